package narrate_test

import (
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/narrate"
)

// TestRedactorStableAndRestored: the same incident gets the same placeholders each
// time, values are only replaced where they stand alone, and Restore brings them back.
func TestRedactorStableAndRestored(t *testing.T) {
	f := fixture()
	a, b := narrate.NewRedactor(f, nil, nil), narrate.NewRedactor(fixture(), nil, nil)
	for _, s := range []string{"10.0.5.11", "web-01.corp.example", "alice.admin", "WEB-01.CORP.EXAMPLE"} {
		if a.Redact(s) != b.Redact(s) || a.Redact(s) == s {
			t.Errorf("%q: %q vs %q", s, a.Redact(s), b.Redact(s))
		}
	}
	for in, want := range map[string]string{
		"login to 10.0.5.11:22 by alice.admin": "login to IP-1:22 by USER-1",
		"10.0.5.110 and 110.0.5.11 are others": "10.0.5.110 and 110.0.5.11 are others",
		"203.0.113.45 stays (public)":          "203.0.113.45 stays (public)",
		"host web-01.corp.example.":            "host HOST-1.",
		"block 10.0.5.11/32":                   "block IP-1/32",
	} {
		if got := a.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := a.Restore("IP-1 and HOST-1 by USER-1, not IP-9"); got != "10.0.5.11 and web-01.corp.example by alice.admin, not IP-9" {
		t.Errorf("Restore: %q", got)
	}
	// An internal address written only in free text is redacted too.
	g := fixture()
	g.Alerts[1].Title = "probe from 192.168.7.7:4444"
	if r := narrate.NewRedactor(g, nil, nil); strings.Contains(r.Redact(g.Alerts[1].Title), "192.168.7.7") {
		t.Error("a free-text internal address survived")
	}
}

// TestParseRejects checks answers that are not the object asked for fail with
// ErrInvalid.
func TestParseRejects(t *testing.T) {
	for name, s := range map[string]string{
		"not json":     "The incident is a brute force.",
		"truncated":    `{"summary": "x"`,
		"unknown key":  `{"summary":"x","stage":"unknown","techniques":[],"confidence":"low","confidence_reason":"","evidence":[],"playbook":"","actions":[],"questions":[],"run":"rm -rf"}`,
		"missing key":  `{"summary":"x","stage":"unknown","techniques":[],"confidence":"low","confidence_reason":"","evidence":[],"playbook":"","actions":[]}`,
		"wrong type":   `{"summary":1,"stage":"unknown","techniques":[],"confidence":"low","confidence_reason":"","evidence":[],"playbook":"","actions":[],"questions":[]}`,
		"two objects":  `{"summary":"x","stage":"unknown","techniques":[],"confidence":"low","confidence_reason":"","evidence":[],"playbook":"","actions":[],"questions":[]} {}`,
		"null actions": `{"summary":"x","stage":"unknown","techniques":[],"confidence":"low","confidence_reason":"","evidence":[],"playbook":"","actions":null,"questions":[]}`,
	} {
		if _, err := narrate.Parse(s); err == nil || !strings.Contains(err.Error(), "invalid answer") {
			t.Errorf("%s: %v", name, err)
		}
	}
	ok := "```json\n" + `{"summary":"x","stage":"unknown","techniques":[],"confidence":"low","confidence_reason":"","evidence":[],"playbook":"","actions":[],"questions":[]}` + "\n```"
	if _, err := narrate.Parse(ok); err != nil {
		t.Errorf("fenced answer: %v", err)
	}
}

// TestValidateRejectsNonNarrative: an empty summary or an unknown stage or confidence
// makes the whole answer invalid.
func TestValidateRejectsNonNarrative(t *testing.T) {
	f := fixture()
	for name, r := range map[string]narrate.Result{
		"empty summary": {Summary: "  ", Stage: "unknown", Confidence: "low"},
		"bad stage":     {Summary: "x", Stage: "pwned", Confidence: "low"},
		"bad conf":      {Summary: "x", Stage: "unknown", Confidence: "certain"},
	} {
		if _, _, err := narrate.Validate(&r, f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r := narrate.Result{Summary: "line one\nline two", Stage: "Credential-Access", Confidence: "HIGH", Playbook: "other-playbook",
		Techniques: []narrate.Technique{{ID: "t1110", Name: "Brute Force"}}}
	v, d, err := narrate.Validate(&r, f)
	if err != nil {
		t.Fatal(err)
	}
	if v.Summary != "line one line two" || v.Stage != "credential-access" || v.Confidence != "high" || v.Playbook != "" ||
		d.Playbook != 1 || len(v.Techniques) != 1 || v.Techniques[0].ID != "T1110" {
		t.Errorf("validated %+v, dropped %+v", v, d)
	}
}
