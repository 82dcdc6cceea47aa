package playbooks

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func ip(v string, r model.Role) model.Entity {
	return model.Entity{Kind: model.EntityIP, Value: v, Role: r}
}

func ent(k model.EntityKind, v string, r model.Role) model.Entity {
	return model.Entity{Kind: k, Value: v, Role: r}
}

// suricata builds an alert the way the suricata decoder does.
func suricata(rule string, cat model.Category, sev model.Severity, at time.Time, src, dst string, extra ...model.Entity) *model.Alert {
	es := []model.Entity{ip(src, model.RoleSrc), ip(dst, model.RoleDst), ent(model.EntityHost, "sensor-1", model.RoleObserver)}
	return &model.Alert{
		Source: "suricata", Format: "suricata", Rule: rule, Title: rule, Severity: sev, Category: cat,
		EventTime: at, Entities: append(es, extra...), Labels: map[string]string{"proto": "TCP"},
	}
}

// incidentOf builds the incident the correlation would make of these alerts.
func incidentOf(cat model.Category, alerts ...*model.Alert) *model.Incident {
	inc := &model.Incident{ID: 42, Number: "INC-0042", Kind: model.KindNormal, Status: model.StatusOpen,
		Category: cat, AlertCount: len(alerts), Notifiable: true}
	seen := map[model.Entity]bool{}
	for _, a := range alerts {
		inc.Severity = max(inc.Severity, a.Severity)
		for _, e := range a.Entities {
			if !seen[e] {
				seen[e] = true
				inc.Entities = append(inc.Entities, e)
			}
		}
		if inc.FirstSeen.IsZero() || a.EventTime.Before(inc.FirstSeen) {
			inc.FirstSeen = a.EventTime
		}
		if a.EventTime.After(inc.LastSeen) {
			inc.LastSeen = a.EventTime
		}
	}
	inc.Title = alerts[0].Title
	return inc
}

type scenario struct {
	inc    *model.Incident
	alerts []*model.Alert
}

func bruteforce() scenario {
	var as []*model.Alert
	for i, dst := range []string{"10.0.1.10", "10.0.1.11", "10.0.1.12"} {
		a := suricata("ET SCAN Potential SSH Scan", model.CategoryBruteforce, model.SeverityMedium,
			t0.Add(time.Duration(i)*time.Minute), "203.0.113.45", dst)
		a.Labels["dest_port"] = "22"
		as = append(as, a)
	}
	return scenario{incidentOf(model.CategoryBruteforce, as...), as}
}

func portScan() scenario {
	a := suricata("ET SCAN NMAP -sS window 1024", model.CategoryScan, model.SeverityLow, t0, "198.51.100.23", "10.0.2.5")
	b := suricata("ET SCAN Suspicious inbound to mySQL port 3306", model.CategoryScan, model.SeverityLow, t0.Add(time.Second), "198.51.100.23", "10.0.2.6")
	return scenario{incidentOf(model.CategoryScan, a, b), []*model.Alert{a, b}}
}

// beacon is a C2 incident with one alert at each offset (seconds) from t0.
func beacon(offsets ...int) scenario {
	var as []*model.Alert
	for _, s := range offsets {
		as = append(as, suricata("ET MALWARE Cobalt Strike Beacon Observed", model.CategoryC2, model.SeverityHigh,
			t0.Add(time.Duration(s)*time.Second), "10.0.3.17", "192.0.2.200", ent(model.EntityHost, "ws-17", model.RoleSrc)))
	}
	return scenario{incidentOf(model.CategoryC2, as...), as}
}

func c2() scenario { return beacon(0, 60, 121, 179, 240) }

func lateral() scenario {
	a := suricata("ET POLICY SMB2 NT Create AndX Request For an Executable File", model.CategoryLateral, model.SeverityHigh, t0, "10.0.4.8", "10.0.4.20")
	b := suricata("ET POLICY PsExec service created", model.CategoryLateral, model.SeverityHigh, t0.Add(time.Minute), "10.0.4.8", "10.0.4.21")
	return scenario{incidentOf(model.CategoryLateral, a, b), []*model.Alert{a, b}}
}

func exfil() scenario {
	a := suricata("ET POLICY Large Upload to External Host", model.CategoryExfil, model.SeverityHigh, t0, "10.0.5.30", "203.0.113.99",
		ent(model.EntityHost, "db-backup-2", model.RoleSrc))
	return scenario{incidentOf(model.CategoryExfil, a), []*model.Alert{a}}
}

func dnsTunnel() scenario {
	var as []*model.Alert
	for i := range 3 {
		a := suricata("ET TROJAN Possible DNS tunnel iodine handshake", model.CategoryC2, model.SeverityHigh,
			t0.Add(time.Duration(i*7)*time.Second), "10.0.6.44", "10.0.0.53", ent(model.EntityDomain, "t1.tunnel.example", model.RoleDst))
		a.Labels["app_proto"] = "dns"
		a.Labels["proto"] = "UDP"
		as = append(as, a)
	}
	return scenario{incidentOf(model.CategoryC2, as...), as}
}

func ddos(sources int) scenario {
	var as []*model.Alert
	for i := range sources {
		src := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/250), byte(1 + i%250)}).String()
		as = append(as, suricata("ET DOS Possible SYN Flood", model.CategoryDoS, model.SeverityHigh,
			t0.Add(time.Duration(i)*time.Second), src, "203.0.113.10"))
	}
	return scenario{incidentOf(model.CategoryDoS, as...), as}
}

func routing() scenario {
	a := &model.Alert{
		Source: "alertmanager", Format: "alertmanager", Rule: "BGPSessionDown", Title: "BGP session to 192.0.2.1 down",
		Severity: model.SeverityCritical, Category: model.CategoryRouting, EventTime: t0,
		Labels:   map[string]string{"alertname": "BGPSessionDown", "device": "edge-rtr-1", "peer_address": "192.0.2.1"},
		Entities: []model.Entity{ent(model.EntityDevice, "edge-rtr-1", model.RoleDst), ip("192.0.2.1", model.RoleDst)},
	}
	b := &model.Alert{
		Source: "alertmanager", Format: "alertmanager", Rule: "BGPPeerFlapping", Title: "BGP peer flapping",
		Severity: model.SeverityHigh, Category: model.CategoryRouting, EventTime: t0.Add(5 * time.Minute),
		Labels:   map[string]string{"alertname": "BGPPeerFlapping", "device": "edge-rtr-1", "interface": "xe-0/0/1"},
		Entities: []model.Entity{ent(model.EntityDevice, "edge-rtr-1", model.RoleDst), ent(model.EntityInterface, "edge-rtr-1:xe-0/0/1", model.RoleDst)},
	}
	return scenario{incidentOf(model.CategoryRouting, a, b), []*model.Alert{a, b}}
}

func builtin(t testing.TB) *Set {
	t.Helper()
	s, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBuiltinMatchTable checks each built-in playbook is chosen for a realistic
// incident of its type, and which playbooks' conditions hold for each incident: its
// own, plus only the overlaps that priority settles.
func TestBuiltinMatchTable(t *testing.T) {
	s := builtin(t)
	cases := []struct {
		name string
		sc   scenario
		want string
		all  []string // every playbook whose match holds
	}{
		{"bruteforce", bruteforce(), "ssh-rdp-bruteforce", []string{"ssh-rdp-bruteforce"}},
		{"port scan", portScan(), "port-scan", []string{"port-scan"}},
		{"c2 beaconing", c2(), "c2-beaconing", []string{"c2-beaconing"}},
		{"lateral movement", lateral(), "lateral-movement", []string{"lateral-movement"}},
		{"exfiltration", exfil(), "data-exfiltration", []string{"data-exfiltration"}},
		// DNS tunnel alerts carry the c2 (or exfil) category; priority 70 beats 50.
		{"dns tunnelling", dnsTunnel(), "dns-tunnelling", []string{"c2-beaconing", "dns-tunnelling"}},
		{"ddos", ddos(5), "ddos", []string{"ddos"}},
		{"routing", routing(), "routing-loop-bgp-flap", []string{"routing-loop-bgp-flap"}},
	}
	var covered []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := s.Match(c.sc.inc, c.sc.alerts)
			if !ok || p.ID != c.want {
				t.Fatalf("Match = %v, %v; want %s", idOf(p), ok, c.want)
			}
			var all []string
			for _, p := range s.List() {
				ok, err := p.Matches(c.sc.inc, c.sc.alerts)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					all = append(all, p.ID)
				}
			}
			if !slices.Equal(all, c.all) {
				t.Errorf("conditions holding: %v; want %v", all, c.all)
			}
		})
		covered = append(covered, c.want)
	}
	slices.Sort(covered)
	var ids []string
	for _, p := range s.List() {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(covered, ids) {
		t.Errorf("table covers %v; built-ins are %v", covered, ids)
	}
}

func idOf(p *Playbook) string {
	if p == nil {
		return "<nil>"
	}
	return p.ID
}

func TestInternalBruteForceIsLateralMovement(t *testing.T) {
	s := builtin(t)
	a := suricata("ET SCAN Potential SSH Scan", model.CategoryBruteforce, model.SeverityMedium, t0, "10.9.0.4", "10.0.1.10")
	p, ok := s.Match(incidentOf(model.CategoryBruteforce, a), []*model.Alert{a})
	if !ok || p.ID != "lateral-movement" {
		t.Fatalf("Match = %s; want lateral-movement", idOf(p))
	}
}

func TestNoMatch(t *testing.T) {
	s := builtin(t)
	a := suricata("ET POLICY curl User-Agent Outbound", model.CategoryPolicy, model.SeverityLow, t0, "10.0.0.5", "203.0.113.1")
	if p, ok := s.Match(incidentOf(model.CategoryPolicy, a), []*model.Alert{a}); ok {
		t.Errorf("policy incident matched %s", p.ID)
	}
	if _, ok := s.Match(nil, nil); ok {
		t.Error("nil incident matched")
	}
}

func approval(n int, twoPerson bool, exp time.Duration) Approval {
	return Approval{Approvers: n, Roles: []string{"approver", "admin"}, TwoPerson: twoPerson, Expires: exp}
}

// TestProposals checks each built-in playbook's proposals for its incident, target by target.
func TestProposals(t *testing.T) {
	s := builtin(t)
	var ddosBlocks []Proposal
	for i := 1; i <= 5; i++ {
		ddosBlocks = append(ddosBlocks, Proposal{Playbook: "ddos", ActionID: "block-flood-source", Kind: "block_ip",
			Target: fmt.Sprintf("198.51.100.%d/32", i), Connector: "edl", TTL: time.Hour, Approval: approval(1, false, 15*time.Minute)})
	}
	cases := []struct {
		name     string
		playbook string
		sc       scenario
		want     []Proposal
	}{
		{"bruteforce blocks the attacker", "ssh-rdp-bruteforce", bruteforce(), []Proposal{
			{Playbook: "ssh-rdp-bruteforce", ActionID: "block-attacker", Kind: "block_ip", Target: "203.0.113.45/32",
				Connector: "edl", TTL: 24 * time.Hour, Approval: approval(1, true, time.Hour)},
		}},
		{"port scan blocks the scanner", "port-scan", portScan(), []Proposal{
			{Playbook: "port-scan", ActionID: "block-scanner", Kind: "block_ip", Target: "198.51.100.23/32",
				Connector: "edl", TTL: 12 * time.Hour, Approval: approval(1, false, 2*time.Hour)},
		}},
		{"periodic beacon isolates at once", "c2-beaconing", c2(), []Proposal{
			{Playbook: "c2-beaconing", ActionID: "isolate-beaconing-host", Kind: "isolate_host", Target: "ws-17",
				Connector: "edr", TTL: 24 * time.Hour, Approval: approval(1, false, 30*time.Minute), Auto: true},
			{Playbook: "c2-beaconing", ActionID: "block-c2-server", Kind: "block_ip", Target: "192.0.2.200/32",
				Connector: "edl", TTL: 72 * time.Hour, Approval: approval(1, true, time.Hour)},
		}},
		{"irregular c2 waits for approval", "c2-beaconing", beacon(0, 10, 310, 350, 1250), []Proposal{
			{Playbook: "c2-beaconing", ActionID: "isolate-beaconing-host", Kind: "isolate_host", Target: "ws-17",
				Connector: "edr", TTL: 24 * time.Hour, Approval: approval(1, false, 30*time.Minute)},
			{Playbook: "c2-beaconing", ActionID: "block-c2-server", Kind: "block_ip", Target: "192.0.2.200/32",
				Connector: "edl", TTL: 72 * time.Hour, Approval: approval(1, true, time.Hour)},
		}},
		{"too few beacons wait for approval", "c2-beaconing", beacon(0, 60, 120), []Proposal{
			{Playbook: "c2-beaconing", ActionID: "isolate-beaconing-host", Kind: "isolate_host", Target: "ws-17",
				Connector: "edr", TTL: 24 * time.Hour, Approval: approval(1, false, 30*time.Minute)},
			{Playbook: "c2-beaconing", ActionID: "block-c2-server", Kind: "block_ip", Target: "192.0.2.200/32",
				Connector: "edl", TTL: 72 * time.Hour, Approval: approval(1, true, time.Hour)},
		}},
		{"lateral isolates the source by address", "lateral-movement", lateral(), []Proposal{
			{Playbook: "lateral-movement", ActionID: "isolate-source-host", Kind: "isolate_host", Target: "10.0.4.8",
				Connector: "edr", TTL: 24 * time.Hour, Approval: approval(1, true, 30*time.Minute)},
		}},
		{"exfiltration blocks and isolates", "data-exfiltration", exfil(), []Proposal{
			{Playbook: "data-exfiltration", ActionID: "block-destination", Kind: "block_ip", Target: "203.0.113.99/32",
				Connector: "edl", TTL: 24 * time.Hour, Approval: approval(1, true, time.Hour)},
			{Playbook: "data-exfiltration", ActionID: "isolate-source-host", Kind: "isolate_host", Target: "db-backup-2",
				Connector: "edr", TTL: 24 * time.Hour, Approval: approval(2, true, time.Hour)},
		}},
		{"dns tunnel sinkholes and isolates", "dns-tunnelling", dnsTunnel(), []Proposal{
			{Playbook: "dns-tunnelling", ActionID: "sinkhole-domain", Kind: "webhook", Target: "t1.tunnel.example",
				Connector: "webhook", TTL: 24 * time.Hour, Approval: approval(1, false, time.Hour)},
			{Playbook: "dns-tunnelling", ActionID: "isolate-source-host", Kind: "isolate_host", Target: "10.0.6.44",
				Connector: "edr", TTL: 24 * time.Hour, Approval: approval(1, true, time.Hour)},
		}},
		{"ddos from few sources blocks them", "ddos", ddos(5), append([]Proposal{
			{Playbook: "ddos", ActionID: "request-scrubbing", Kind: "webhook", Target: "203.0.113.10",
				Connector: "webhook", Approval: approval(1, false, 15*time.Minute)},
		}, ddosBlocks...)},
		{"ddos from a botnet only asks for scrubbing", "ddos", ddos(60), []Proposal{
			{Playbook: "ddos", ActionID: "request-scrubbing", Kind: "webhook", Target: "203.0.113.10",
				Connector: "webhook", Approval: approval(1, false, 15*time.Minute)},
		}},
		{"routing pages the network team", "routing-loop-bgp-flap", routing(), []Proposal{
			{Playbook: "routing-loop-bgp-flap", ActionID: "page-network-team", Kind: "webhook", Target: "edge-rtr-1",
				Connector: "webhook", Approval: Approval{Roles: []string{"approver", "admin"}, Expires: time.Hour}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := s.Get(c.playbook)
			if !ok {
				t.Fatalf("no playbook %s", c.playbook)
			}
			got := p.Propose(c.sc.inc, c.sc.alerts)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("proposals:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestAutoMaxTargets checks auto isolation turns into a request for approval when
// the incident has more beaconing hosts than the action may isolate on its own.
func TestAutoMaxTargets(t *testing.T) {
	p, _ := builtin(t).Get("c2-beaconing")
	sc := c2()
	for i, a := range sc.alerts {
		if i%2 == 1 {
			a.Entities = []model.Entity{ip("10.0.3.18", model.RoleSrc), ip("192.0.2.200", model.RoleDst)}
		}
	}
	sc.inc = incidentOf(model.CategoryC2, sc.alerts...)
	var hosts []string
	for _, pr := range p.Propose(sc.inc, sc.alerts) {
		if pr.ActionID == "isolate-beaconing-host" {
			hosts = append(hosts, pr.Target)
			if pr.Auto {
				t.Errorf("%s proposed as auto; two hosts exceed auto_max_targets 1", pr.Target)
			}
		}
	}
	if !slices.Equal(hosts, []string{"10.0.3.18", "ws-17"}) {
		t.Errorf("isolation targets %v; want [10.0.3.18 ws-17]", hosts)
	}
}

// TestTargetFiltering checks targets from a CEL expression are canonicalized and
// that broad prefixes, non-addresses and internal or special addresses are dropped.
func TestTargetFiltering(t *testing.T) {
	src := `id: filter
title: t
match: "true"
checklist: [x]
actions:
  - id: block
    kind: block_ip
    ttl: 1h
    targets: >
      ['0.0.0.0/0', '198.51.100.0/24', '10.0.0.1', '127.0.0.1', '169.254.1.1', '224.0.0.1',
       '198.51.100.7', '198.51.100.7/32', ' 198.51.100.9 ', '::ffff:198.51.100.8', 'host-1', '',
       '2001:db8::1', 'fd00::1', 'a b', '198.51.100.1']
  - id: notify
    kind: webhook
    targets: "['Host-A', '10.0.0.1', '2001:db8::2/128', '` + strings.Repeat("x", 300) + `']"
  - id: notify-internal
    kind: webhook
    allow_internal: true
    targets: "['10.0.0.1', '10.0.0.1/32']"
`
	p, err := Parse("filter.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc := bruteforce()
	var got []string
	for _, pr := range p.Propose(sc.inc, sc.alerts) {
		got = append(got, pr.ActionID+" "+pr.Target)
	}
	want := []string{
		"block 198.51.100.1/32", "block 198.51.100.7/32", "block 198.51.100.8/32", "block 198.51.100.9/32",
		"block 2001:db8::1/128",
		"notify 2001:db8::2", "notify Host-A",
		"notify-internal 10.0.0.1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n got %q\nwant %q", got, want)
	}
}

func TestInternalNetworksOption(t *testing.T) {
	s, err := LoadWith(Options{InternalNetworks: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	sc := bruteforce()
	// 203.0.113.45 is now internal and 10.0.1.x is not: this is a brute force from inside.
	p, ok := s.Match(sc.inc, sc.alerts)
	if !ok || p.ID != "lateral-movement" {
		t.Fatalf("Match = %s; want lateral-movement", idOf(p))
	}
	bf, _ := s.Get("ssh-rdp-bruteforce")
	if got := bf.Propose(sc.inc, sc.alerts); len(got) != 0 {
		t.Errorf("brute force playbook proposes %+v against an internal source", got)
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUserDirOverridesByID(t *testing.T) {
	s, err := Load("testdata/user")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s.Get("ssh-rdp-bruteforce")
	if !ok {
		t.Fatal("ssh-rdp-bruteforce missing")
	}
	if p.Builtin || p.File != filepath.Join("testdata/user", "bruteforce.yaml") || p.Title != "Brute force (site policy)" {
		t.Errorf("ssh-rdp-bruteforce = %s from %s (builtin %v); want the user file", p.Title, p.File, p.Builtin)
	}
	sc := bruteforce()
	got := p.Propose(sc.inc, sc.alerts)
	want := []Proposal{{Playbook: "ssh-rdp-bruteforce", ActionID: "block-attacker", Kind: "block_ip",
		Target: "203.0.113.45/32", Connector: "nft", TTL: 4 * time.Hour, Approval: approval(2, true, 10*time.Minute)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("proposals:\n got %+v\nwant %+v", got, want)
	}
	if m, ok := s.Match(sc.inc, sc.alerts); !ok || m != p {
		t.Errorf("Match = %s; want the user's ssh-rdp-bruteforce", idOf(m))
	}
	// A new id adds a playbook; the other built-ins stay.
	if _, ok := s.Get("vpn-impossible-travel"); !ok {
		t.Error("user playbook vpn-impossible-travel missing")
	}
	if n := len(s.List()); n != 9 {
		t.Errorf("%d playbooks; want 8 built-ins + 1 new", n)
	}
	if c, _ := s.Get("c2-beaconing"); !c.Builtin || c.File != "builtin/c2-beaconing.yaml" {
		t.Errorf("c2-beaconing from %s; want the built-in", c.File)
	}
}

func TestUserDirErrors(t *testing.T) {
	dir := t.TempDir()
	body := "id: same\ntitle: t\nmatch: \"false\"\nchecklist: [x]\n"
	writeFile(t, dir, "a.yaml", body)
	b := writeFile(t, dir, "b.yml", body)
	writeFile(t, dir, "notes.txt", "not a playbook")
	_, err := Load(dir)
	want := b + `:1: id: "same" is also the id of ` + filepath.Join(dir, "a.yaml") + "; each file needs its own id"
	if err == nil || err.Error() != want {
		t.Errorf("error %v; want %q", err, want)
	}

	_, err = Load(filepath.Join(dir, "missing"))
	if err == nil || !strings.HasPrefix(err.Error(), "playbooks.dir: open ") {
		t.Errorf("missing dir: error %v", err)
	}

	big := t.TempDir()
	writeFile(t, big, "big.yaml", "id: x\n"+strings.Repeat("# filler\n", MaxFileBytes/9+1))
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "a playbook file may hold at most") {
		t.Errorf("big file: error %v", err)
	}
}

func TestMatchTieBreakAndPriority(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []struct{ name, id string }{{"z.yaml", "bbb"}, {"y.yaml", "aaa"}, {"x.yaml", "ccc"}} {
		writeFile(t, dir, f.name, fmt.Sprintf("id: %s\ntitle: t\nmatch: incident.category == 'scan'\npriority: 40\nchecklist: [x]\n", f.id))
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := portScan()
	// port-scan (40) ties with aaa, bbb and ccc: the smallest id wins, whatever the file order.
	if p, _ := s.Match(sc.inc, sc.alerts); idOf(p) != "aaa" {
		t.Errorf("Match = %s; want aaa", idOf(p))
	}
	writeFile(t, dir, "w.yaml", "id: zzz\ntitle: t\nmatch: incident.category == 'scan'\npriority: 41\nchecklist: [x]\n")
	s, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Match(sc.inc, sc.alerts); idOf(p) != "zzz" {
		t.Errorf("Match = %s; want zzz (higher priority)", idOf(p))
	}
}

// TestCostLimit checks an expression too costly for the limit fails instead of
// running on, and that Match then skips the playbook.
func TestCostLimit(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "heavy.yaml", `id: heavy
title: Quadratic
priority: 1000
match: >
  alerts.all(a, alerts.all(b, alerts.all(c, a.rule + b.rule + c.rule != 'x')))
checklist: [x]
`)
	s, err := LoadWith(Options{Dir: dir, CostLimit: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	sc := ddos(60) // 60³ comprehension steps
	heavy, _ := s.Get("heavy")
	ok, err := heavy.Matches(sc.inc, sc.alerts)
	if ok || err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
		t.Fatalf("Matches = %v, %v; want a cost limit error", ok, err)
	}
	if p, _ := s.Match(sc.inc, sc.alerts); idOf(p) != "ddos" {
		t.Errorf("Match = %s; want ddos (heavy exceeds the cost limit)", idOf(p))
	}
	// A few alerts stay under the limit.
	small := ddos(3)
	if ok, err := heavy.Matches(small.inc, small.alerts); !ok || err != nil {
		t.Errorf("small incident: Matches = %v, %v; want true", ok, err)
	}
}

// TestFunctions checks the helper functions and variables expressions can use.
func TestFunctions(t *testing.T) {
	e, err := newEngine(Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	sc := c2()
	in := e.input(sc.inc, sc.alerts)
	for _, src := range []string{
		"is_internal('10.1.2.3') && is_internal('fd12::1') && is_internal('100.64.0.1') && is_internal('192.168.0.1')",
		"!is_internal('203.0.113.1') && !is_internal('not-an-ip') && !is_internal('')",
		"is_ip('2001:db8::1') && is_ip('192.0.2.1') && !is_ip('ws-17') && !is_ip('192.0.2.0/24')",
		"in_cidr('192.0.2.200', '192.0.2.0/24') && !in_cidr('192.0.3.1', '192.0.2.0/24') && !in_cidr('x', '192.0.2.0/24')",
		"jitter(alerts.map(a, a.event_time)) < 0.05",
		"jitter([timestamp('2026-01-01T00:00:00Z'), timestamp('2026-01-01T00:01:00Z')]) == double('Infinity')",
		"jitter([timestamp('2026-01-01T00:00:00Z'), timestamp('2026-01-01T00:00:10Z'), timestamp('2026-01-01T00:10:00Z')]) > 0.9",
		"incident.severity == 'high' && incident.severity_rank == 4 && incident.alert_count == 5 && incident.number == 'INC-0042'",
		"incident.entities.exists(e, e.kind == 'host' && e.value == 'ws-17' && e.role == 'src')",
		"alerts[0].labels.proto == 'TCP' && alerts[0].labels.?missing.orValue('none') == 'none'",
		"alerts.all(a, a.format == 'suricata' && a.source == 'suricata' && a.category == 'c2')",
		"selectors.c2_dst_ips == ['192.0.2.200'] && selectors.c2_src_hosts == ['ws-17'] && selectors.external_src_ips == []",
		"selectors.internal_src_ips == ['10.0.3.17'] && selectors.internal_src_hosts == ['ws-17']",
		"size(alerts.map(a, a.rule).distinct()) == 1 && 'COBALT'.lowerAscii() == 'cobalt'",
		"incident.last_seen - incident.first_seen == duration('240s')",
	} {
		x, err := e.compile(src, wantBool)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if ok, err := x.evalBool(in); !ok || err != nil {
			t.Errorf("%s = %v, %v; want true", src, ok, err)
		}
	}
	x, err := e.compile("in_cidr('192.0.2.1', 'bogus')", wantBool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.evalBool(in); err == nil || !strings.Contains(err.Error(), `"bogus" is not a CIDR`) {
		t.Errorf("bad CIDR: error %v", err)
	}
}

// TestSelectorsDocumented checks every selector has a field in the CEL view and a
// line in the README.
func TestSelectorsDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newEngine(Options{}.withDefaults())
	sc := bruteforce()
	sel := e.selectAll(sc.inc, sc.alerts)
	if len(sel) != len(selectorTable) {
		t.Errorf("selectAll gives %d selectors; the table has %d", len(sel), len(selectorTable))
	}
	for _, s := range selectorTable {
		if _, ok := sel[s.name]; !ok {
			t.Errorf("selector %s not computed", s.name)
		}
		if !strings.Contains(string(readme), "| `"+s.name+"` |") {
			t.Errorf("selector %s missing from README.md", s.name)
		}
		if _, err := e.compile("selectors."+s.name+" == []", wantBool); err != nil {
			t.Errorf("selector %s not visible to CEL: %v", s.name, err)
		}
	}
	for _, p := range builtin(t).List() {
		if !strings.Contains(string(readme), "`"+p.ID+"`") {
			t.Errorf("built-in %s missing from README.md", p.ID)
		}
	}
}

// TestProposalsAreCopies checks a caller changing a proposal cannot change the playbook.
func TestProposalsAreCopies(t *testing.T) {
	p, _ := builtin(t).Get("ssh-rdp-bruteforce")
	sc := bruteforce()
	got := p.Propose(sc.inc, sc.alerts)
	got[0].Approval.Roles[0] = "viewer"
	if again := p.Propose(sc.inc, sc.alerts); again[0].Approval.Roles[0] != "approver" {
		t.Errorf("roles changed to %v", again[0].Approval.Roles)
	}
}

func BenchmarkMatchAndPropose(b *testing.B) {
	s := builtin(b)
	sc := c2()
	for b.Loop() {
		p, _ := s.Match(sc.inc, sc.alerts)
		p.Propose(sc.inc, sc.alerts)
	}
}

// TestProposeFromIncidentAlone checks selectors fall back on the incident's own
// entities when no alerts are given.
func TestProposeFromIncidentAlone(t *testing.T) {
	s := builtin(t)
	for _, c := range []struct {
		sc   scenario
		want []string
	}{
		{bruteforce(), []string{"block-attacker 203.0.113.45/32"}},
		{c2(), []string{"isolate-beaconing-host ws-17", "block-c2-server 192.0.2.200/32"}},
	} {
		p, ok := s.Match(c.sc.inc, nil)
		if !ok {
			t.Fatalf("%s: no match without alerts", c.sc.inc.Category)
		}
		var got []string
		for _, pr := range p.Propose(c.sc.inc, nil) {
			got = append(got, pr.ActionID+" "+pr.Target)
			if pr.Auto {
				t.Errorf("%s is auto without alerts to judge the beacon by", pr.ActionID)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v; want %v", p.ID, got, c.want)
		}
	}
}

// TestConcurrentUse runs Match and Propose from several goroutines (meaningful under -race).
func TestConcurrentUse(t *testing.T) {
	s := builtin(t)
	scs := []scenario{bruteforce(), c2(), exfil(), routing()}
	done := make(chan string)
	for i := range 8 {
		go func() {
			sc := scs[i%len(scs)]
			var last string
			for range 20 {
				p, _ := s.Match(sc.inc, sc.alerts)
				last = fmt.Sprint(p.ID, p.Propose(sc.inc, sc.alerts))
			}
			done <- last
		}()
	}
	seen := map[string]bool{}
	for range 8 {
		seen[<-done] = true
	}
	if len(seen) != len(scs) {
		t.Errorf("%d distinct results from %d scenarios", len(seen), len(scs))
	}
}

// TestCostLimitBoundsGrowth checks expressions that would build huge lists or
// strings stop at the default cost limit instead of allocating them.
func TestCostLimitBoundsGrowth(t *testing.T) {
	e, err := newEngine(Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	sc := c2()
	in := e.input(sc.inc, sc.alerts)
	for _, src := range []string{
		"size(lists.range(10000).map(x, lists.range(10000))) > 0",
		"size(lists.range(10000).map(x, [lists.range(10000)].flatten())) > 0",
		"size(lists.range(10000).map(x, lists.range(10000).sort())) > 0",
		"size('a'" + strings.Repeat(".replace('a', 'aaaaaaaaaa')", 9) + ") > 0",
	} {
		x, err := e.compile(src, wantBool)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if ok, err := x.evalBool(in); ok || err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
			t.Errorf("%s = %v, %v; want a cost limit error", src, ok, err)
		}
	}
}
