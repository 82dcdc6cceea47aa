package narrate_test

import (
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/narrate"
)

// FuzzParse feeds arbitrary model answers through Parse, Validate and Text: they
// never panic, and what validates only cites the incident's facts.
func FuzzParse(f *testing.F) {
	facts := fixture()
	f.Add(`{"summary":"x","stage":"unknown","techniques":[],"confidence":"low","confidence_reason":"","evidence":[],"playbook":"","actions":[],"questions":[]}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := narrate.Parse(s)
		if err != nil {
			return
		}
		v, _, err := narrate.Validate(r, facts)
		if err != nil {
			return
		}
		for _, a := range v.Actions {
			if a != "block-attacker" && a != "notify-soc" {
				t.Fatalf("action %q validated", a)
			}
		}
		for _, e := range v.Evidence {
			for _, id := range e.Alerts {
				if id < 101 || id > 103 {
					t.Fatalf("alert %d validated", id)
				}
			}
		}
		_ = v.Text(facts)
	})
}

// FuzzRedact checks that restoring a redacted text gives the text back, up to the
// case of redacted values, whatever the text.
func FuzzRedact(f *testing.F) {
	facts := fixture()
	red := narrate.NewRedactor(facts, nil, []string{"corp.example"})
	f.Add("login to 10.0.5.11:22 by alice.admin on web-01.corp.example")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "-") && strings.Contains(s, "IP") || strings.Contains(s, "HOST") || strings.Contains(s, "USER") ||
			strings.Contains(s, "DEVICE") || strings.Contains(s, "DOMAIN") {
			return // text that already holds placeholder-like words
		}
		got := red.Restore(red.Redact(s))
		if !strings.EqualFold(got, s) {
			t.Fatalf("Restore(Redact(%q)) = %q", s, got)
		}
	})
}
