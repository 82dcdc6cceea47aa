package ingest

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/warroom/warroom/triage/model"
)

func TestNewRuleTableErrors(t *testing.T) {
	ok := RuleSpec{Match: "x", Category: "scan"}
	for _, tc := range []struct {
		name string
		spec RuleSpec
		want string
	}{
		{"bad regexp", RuleSpec{Match: "(ssh", Category: "scan"}, "rules[1].match \"(ssh\": error parsing regexp: missing closing ): `(ssh`"},
		{"empty match", RuleSpec{Category: "scan"}, `rules[1].match: empty; want a regular expression such as "(?i)ssh.*brute"`},
		{"unknown category", RuleSpec{Match: "x", Category: "malware"}, `rules[1].category "malware": want one of bruteforce, scan, c2, lateral, exfil, dos, routing, policy, other`},
		{"unknown field", RuleSpec{Match: "x", Field: "name", Category: "scan"}, `rules[1].field "name": want rule, title or any`},
		{"bad severity", RuleSpec{Match: "x", Category: "scan", Severity: "urgent"}, `rules[1].severity "urgent": want one of critical, high, medium, low, info`},
		{"sets nothing", RuleSpec{Match: "x"}, "rules[1].category: empty; a rule must set a category, a severity or both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRuleTable([]RuleSpec{ok, tc.spec})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %q", err, tc.want)
			}
		})
	}
}

func TestRuleTableApply(t *testing.T) {
	table, err := NewRuleTable([]RuleSpec{
		{Match: `^ET POLICY SMB2`, Field: "rule", Category: "policy", Severity: "info"},
		{Match: `(?i)backup job`, Field: "title", Category: "policy"},
		{Match: `(?i)smb`, Category: "lateral", Severity: "high"},
		{Match: `canary`, Severity: "critical"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if table.Len() != 4 {
		t.Fatalf("Len = %d", table.Len())
	}
	for _, tc := range []struct {
		rule, title string
		sev         model.Severity
		cat         model.Category
	}{
		{"ET POLICY SMB2 NT Create", "x", model.SeverityInfo, model.CategoryPolicy}, // first rule wins
		{"nightly", "SMB traffic spike", model.SeverityHigh, model.CategoryLateral}, // any: title
		{"backup job", "x", model.SeverityLow, model.CategoryOther},                 // title only
		{"r", "Backup Job over SMB", model.SeverityLow, model.CategoryPolicy},       // second before third
		{"canary-token-read", "x", model.SeverityCritical, model.CategoryOther},     // severity only
		{"unmatched", "unmatched", model.SeverityLow, model.CategoryOther},          // unchanged
	} {
		for pass := range 2 { // the second pass is answered from the memo
			a := &model.Alert{Rule: tc.rule, Title: tc.title, Severity: model.SeverityLow, Category: model.CategoryOther}
			table.Apply(a)
			if a.Severity != tc.sev || a.Category != tc.cat {
				t.Errorf("pass %d: %q/%q: %v %v, want %v %v", pass, tc.rule, tc.title, a.Severity, a.Category, tc.sev, tc.cat)
			}
		}
	}
	var nilTable *RuleTable
	a := &model.Alert{Rule: "smb", Category: model.CategoryOther}
	nilTable.Apply(a)
	if a.Category != model.CategoryOther || nilTable.Len() != 0 {
		t.Error("a nil table changed an alert")
	}
}

// TestRuleTableMemoBounded: distinct titles never grow the memo past memoMax, answers
// stay right across its clearing, and its keys do not share the alerts' buffers.
func TestRuleTableMemoBounded(t *testing.T) {
	table, err := NewRuleTable([]RuleSpec{{Match: `(?i)flap`, Field: "title", Category: "routing"}})
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("link flap 0000000")
	for i := range memoMax + 100 {
		copy(buf[len(buf)-7:], fmt.Sprintf("%07d", i))
		want := model.CategoryRouting
		if i%3 == 0 {
			copy(buf, "link flop")
			want = model.CategoryOther
		}
		title := unsafe.String(&buf[0], len(buf)) // shares buf, which the next round rewrites
		a := &model.Alert{Rule: "bgp", Title: title, Category: model.CategoryOther}
		table.Apply(a)
		if a.Category != want {
			t.Fatalf("title %q: category %v, want %v", title, a.Category, want)
		}
		copy(buf, "link flap")
		if n := len(table.memo); n > memoMax {
			t.Fatalf("memo holds %d entries, want at most %d", n, memoMax)
		}
	}
	copy(buf, strings.Repeat("Z", len(buf)))
	for k := range table.memo {
		if strings.Contains(k.title, "Z") {
			t.Fatalf("memo key %q changed with the alert's buffer", k.title)
		}
	}
}

// TestRulesInDecoder: the table from Options overrides what the format inferred.
func TestRulesInDecoder(t *testing.T) {
	table, err := NewRuleTable([]RuleSpec{{Match: "Potential SSH Scan", Category: "scan", Severity: "low"}})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := Lookup("suricata")
	opts := testOpts()
	opts.Rules = table
	items, err := d.Decode([]byte(suricataLine("", "")), opts)
	if err != nil || items[0].Alert == nil {
		t.Fatal(err, items)
	}
	if a := items[0].Alert; a.Category != model.CategoryScan || a.Severity != model.SeverityLow {
		t.Errorf("got %v %v, want scan low", a.Category, a.Severity)
	}
}

func TestInferCategory(t *testing.T) {
	for text, want := range map[string]model.Category{
		"ET MALWARE Cobalt Strike Beacon Observed":                                model.CategoryC2,
		"ET SCAN Potential SSH Scan":                                              model.CategoryBruteforce,
		"ET SCAN NMAP -sS window 1024":                                            model.CategoryScan,
		"ET SCAN Suspicious inbound to mySQL port 3306":                           model.CategoryScan,
		"ET POLICY SMB2 NT Create AndX Request For an Executable File":            model.CategoryLateral,
		"ET DNS Query for Suspicious Long TXT Subdomain - Possible DNS Tunneling": model.CategoryExfil,
		"ET DOS Possible SYN Flood Inbound":                                       model.CategoryDoS,
		"ET POLICY DNS Query to .onion proxy Domain":                              model.CategoryPolicy,
		"ET INFO Session Traversal Utilities for NAT (STUN Binding Request)":      model.CategoryPolicy,
		"ET POLICY curl User-Agent Outbound":                                      model.CategoryPolicy,
		"Possible DDoS attack":                                                    model.CategoryDoS,
		"BGPSessionDown":                                                          model.CategoryRouting,
		"bgp_session_down":                                                        model.CategoryRouting,
		"OSPF neighbor flapping":                                                  model.CategoryRouting,
		"RDP brute-force":                                                         model.CategoryBruteforce,
		"PsExec service installed":                                                model.CategoryLateral,
		"Data exfiltration over HTTPS":                                            model.CategoryExfil,
		"C2 beaconing detected":                                                   model.CategoryC2,
		"Scan::Port_Scan":                                                         model.CategoryScan,
		"SSH::Password_Guessing":                                                  model.CategoryBruteforce,
		"Tactic: Lateral Movement":                                                model.CategoryLateral,
		"HighMemoryUsage":                                                         model.CategoryOther,
		"Windows Defender disabled":                                               model.CategoryOther, // "dos" only as a whole word
		"Information disclosure":                                                  model.CategoryOther, // "info" only as a whole word
		"":                                                                        model.CategoryOther,
	} {
		if got := inferCategory(text); got != want {
			t.Errorf("%q → %s, want %s", text, got, want)
		}
	}
	// The first text naming a category wins.
	if got := inferCategory("HighLatency", "SYN flood against the edge"); got != model.CategoryDoS {
		t.Errorf("second text: %s", got)
	}
}

func TestSuricataCategoryFromClass(t *testing.T) {
	for _, tc := range []struct {
		sig, class string
		want       model.Category
	}{
		{"GPL ICMP_INFO PING *NIX", "Misc activity", model.CategoryPolicy},
		{"GPL ICMP PING *NIX", "Misc activity", model.CategoryOther},
		{"ET EXPLOIT Possible Exploit", "A Network Trojan was detected", model.CategoryC2},
		{"GPL ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic", model.CategoryOther},
		{"ET WEB_SERVER Possible XXE", "Detection of a Network Scan", model.CategoryScan},
		{"SURICATA STREAM excessive retransmissions", "Generic Protocol Command Decode", model.CategoryPolicy},
		{"ET EXPLOIT x", "attempted denial of service", model.CategoryDoS},
	} {
		if got := suricataCategory(tc.sig, tc.class); got != tc.want {
			t.Errorf("%q/%q → %s, want %s", tc.sig, tc.class, got, tc.want)
		}
	}
}
