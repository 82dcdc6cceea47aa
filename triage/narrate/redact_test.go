package narrate_test

import (
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/narrate"
)

// TestRedactorCoversValuesAfterSeparators checks internal addresses, hosts and users
// are redacted where alert text glues them to a separator (DOMAIN\user, user@host,
// key:value), so none of them reaches the prompt.
func TestRedactorCoversValuesAfterSeparators(t *testing.T) {
	f := fixture()
	f.Alerts[1].Title = `logon CORP\alice.admin from root@10.0.5.11 via dst:10.0.5.11 to alice.admin@web-01.corp.example`
	f.Alerts[1].Labels = map[string]string{"peer": "host:192.168.9.9", "relay": "svc@172.16.4.4:25", "ssh": "admin@10.20.30.40"}
	// A rule counted in the incident whose alerts are not in the sample.
	f.Rules = append(f.Rules, narrate.RuleFacts{Rule: "Outbound C2 beacon from 10.77.1.9", Count: 3, Severity: "high"})
	p, err := narrate.BuildPrompt(f, narrate.NewRedactor(f, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"alice.admin", "10.0.5.11", "web-01", "192.168.9.9", "172.16.4.4", "10.20.30.40", "10.77.1.9"} {
		if strings.Contains(p.User, v) {
			t.Errorf("%s reached the prompt:\n%s", v, p.User)
		}
	}
	// Values still stand alone: a longer name or address is not cut into.
	r := narrate.NewRedactor(f, nil, nil)
	for _, s := range []string{"110.0.5.11", "10.0.5.110", "xalice.admin", "alice.adminx", "old-web-01.corp.example"} {
		if got := r.Redact(s); got != s {
			t.Errorf("Redact(%q) = %q; a longer value was cut into", s, got)
		}
	}
}

// TestRedactorCoversInternalDomains checks names under the internal DNS suffixes are
// redacted wherever they appear, and every other domain (the evidence) is kept.
func TestRedactorCoversInternalDomains(t *testing.T) {
	f := fixture()
	f.Incident.Entities = append(f.Incident.Entities,
		narrate.EntityFacts{Kind: "domain", Value: "sso.corp.example.com", Role: "dst"},
		narrate.EntityFacts{Kind: "domain", Value: "update-check.evil-c2.example.net", Role: "dst"})
	f.Alerts[1].Title = "DNS query for FileServer.AD.Internal. then dc01.corp.example.com"
	f.Alerts[1].Labels = map[string]string{"query": "printer.lan", "peer": "notinternal.com", "zone": "internal.example.org"}
	red := narrate.NewRedactor(f, nil, []string{".Corp.Example.com", "internal", "lan"})
	p, err := narrate.BuildPrompt(f, red)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"sso.corp.example.com", "fileserver.ad.internal", "dc01.corp.example.com", "printer.lan"} {
		if strings.Contains(strings.ToLower(p.User), v) {
			t.Errorf("%s reached the prompt:\n%s", v, p.User)
		}
	}
	for _, v := range []string{"update-check.evil-c2.example.net", "notinternal.com", "internal.example.org", "DOMAIN-1"} {
		if !strings.Contains(p.User, v) {
			t.Errorf("%s is missing from the prompt:\n%s", v, p.User)
		}
	}
	if got := red.Restore(red.Redact("resolved sso.corp.example.com")); got != "resolved sso.corp.example.com" {
		t.Errorf("restored %q", got)
	}
	// Without suffixes, no domain is redacted.
	if got := narrate.NewRedactor(f, nil, nil).Redact("sso.corp.example.com"); got != "sso.corp.example.com" {
		t.Errorf("no suffixes: %q", got)
	}
}
