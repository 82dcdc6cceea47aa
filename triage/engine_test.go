package triage

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func ip(v string, r model.Role) model.Entity {
	return model.Entity{Kind: model.EntityIP, Value: v, Role: r}
}
func src(v string) model.Entity { return ip(v, model.RoleSrc) }
func dst(v string) model.Entity { return ip(v, model.RoleDst) }

var fpSeq int

func mk(at time.Time, sev model.Severity, cat model.Category, rule string, ents ...model.Entity) *model.Alert {
	fpSeq++
	return &model.Alert{Source: "test", Format: "test", Rule: rule, Title: rule, Severity: sev, Category: cat,
		EventTime: at, ReceivedAt: at, Entities: ents, Fingerprint: fmt.Sprintf("fp-%d", fpSeq)}
}

// add feeds one alert as its own op at wall time now and returns its final incident.
func (r *engineRun) add(now time.Time, a *model.Alert) int64 {
	r.op(now, []*model.Alert{a})
	return r.final(a.IncidentID)
}

func (r *engineRun) addAt(a *model.Alert) int64 { return r.add(a.EventTime, a) }

func TestWindowEdgesInEventTime(t *testing.T) {
	w := DefaultConfig().Window
	for _, tc := range []struct {
		name string
		d    time.Duration
		join bool
	}{
		{"at the window", w, true},
		{"past the window", w + time.Nanosecond, false},
		{"late, at the window", -w, true},
		{"late, past the window", -w - time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngineRun(t, DefaultConfig())
			first := r.addAt(mk(t0, model.SeverityMedium, model.CategoryBruteforce, "ssh", src("203.0.113.7"), dst("172.16.5.10")))
			got := r.add(t0.Add(time.Second), mk(t0.Add(tc.d), model.SeverityMedium, model.CategoryBruteforce, "ssh",
				src("203.0.113.7"), dst("172.16.5.11")))
			if (got == first) != tc.join {
				t.Fatalf("alert %v from the first: incident %d, first %d; want joined=%v", tc.d, got, first, tc.join)
			}
		})
	}
}

func TestReplayCorrelatesLikeLiveTraffic(t *testing.T) {
	// Last week's alerts delivered now, in a burst: windows are in event time.
	r := newEngineRun(t, DefaultConfig())
	now := t0.Add(7 * 24 * time.Hour)
	old := t0.Add(-time.Hour)
	a := r.add(now, mk(old, model.SeverityMedium, model.CategoryBruteforce, "ssh", src("203.0.113.7"), dst("172.16.5.10")))
	b := r.add(now, mk(old.Add(20*time.Minute), model.SeverityMedium, model.CategoryBruteforce, "ssh", src("203.0.113.7"), dst("172.16.5.11")))
	c := r.add(now, mk(old.Add(90*time.Minute), model.SeverityMedium, model.CategoryBruteforce, "ssh", src("203.0.113.7"), dst("172.16.5.11")))
	if a != b {
		t.Fatal("replayed alerts 20 minutes apart did not join")
	}
	if b == c {
		t.Fatal("replayed alerts 70 minutes apart joined")
	}
}

func TestLateAlertInsideSpanJoins(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	var id int64
	for m := 0; m <= 120; m += 10 {
		id = r.addAt(mk(t0.Add(time.Duration(m)*time.Minute), model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.7.33"), dst("93.184.216.34")))
	}
	// An hour behind the newest alert, but inside the span the host covers.
	late := mk(t0.Add(60*time.Minute+30*time.Second), model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.7.33"), dst("93.184.216.34"))
	if got := r.add(t0.Add(3*time.Hour), late); got != id {
		t.Fatalf("late alert inside the span opened %d, want %d", got, id)
	}
	inc, _ := r.e.Incident(id)
	if inc.AlertCount != 14 || !inc.FirstSeen.Equal(t0) || !inc.LastSeen.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("incident: count %d first %s last %s", inc.AlertCount, inc.FirstSeen, inc.LastSeen)
	}
}

func TestMergeIntoOldest(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	a := r.addAt(mk(t0, model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.7.33"), dst("93.184.216.34")))
	b := r.addAt(mk(t0.Add(time.Minute), model.SeverityMedium, model.CategoryLateral, "smb", src("172.16.7.50"), dst("172.16.7.51")))
	if a == b {
		t.Fatal("unrelated alerts joined")
	}
	// 172.16.7.51, reached laterally by b's source, beacons to a's C2: links both.
	m := mk(t0.Add(2*time.Minute), model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.7.51"), dst("93.184.216.34"))
	r.op(t0.Add(2*time.Minute), []*model.Alert{m})
	if got := r.final(m.IncidentID); got != a {
		t.Fatalf("linking alert went to %d, want the oldest %d", got, a)
	}
	if r.into[b] != a {
		t.Fatalf("incident %d merged into %d, want %d", b, r.into[b], a)
	}
	inc, _ := r.e.Incident(a)
	if inc.AlertCount != 3 || inc.Severity != model.SeverityHigh || inc.Category != model.CategoryC2 {
		t.Fatalf("merged incident: %+v", inc)
	}
	if _, live := r.e.Incident(b); live {
		t.Fatal("merged incident is still live")
	}
	// Later alerts about the absorbed incident's entities join the survivor.
	if got := r.addAt(mk(t0.Add(3*time.Minute), model.SeverityMedium, model.CategoryLateral, "smb", src("172.16.7.50"), dst("172.16.7.52"))); got != a {
		t.Fatalf("alert about the absorbed incident's host went to %d, want %d", got, a)
	}
}

func TestClosedIncidentsDoNotAbsorb(t *testing.T) {
	for _, to := range []model.Status{model.StatusResolved, model.StatusFalsePositive} {
		t.Run(string(to), func(t *testing.T) {
			r := newEngineRun(t, DefaultConfig())
			id := r.addAt(mk(t0, model.SeverityMedium, model.CategoryBruteforce, "ssh", src("203.0.113.7"), dst("172.16.5.10")))
			r.e.Begin(t0)
			if _, _, err := r.e.SetStatus(id, model.StatusAcknowledged, t0); err != nil {
				t.Fatal(err)
			}
			r.e.Release(Mark(r.e.seq))
			if got := r.addAt(mk(t0.Add(time.Minute), model.SeverityMedium, model.CategoryBruteforce, "ssh", src("203.0.113.7"), dst("172.16.5.10"))); got != id {
				t.Fatalf("acknowledged incident did not absorb: %d", got)
			}
			r.e.Begin(t0)
			if _, _, err := r.e.SetStatus(id, to, t0); err != nil {
				t.Fatal(err)
			}
			r.e.Release(Mark(r.e.seq))
			if got := r.addAt(mk(t0.Add(2*time.Minute), model.SeverityMedium, model.CategoryBruteforce, "ssh", src("203.0.113.7"), dst("172.16.5.10"))); got == id {
				t.Fatalf("%s incident absorbed an alert", to)
			}
			for key, en := range r.e.index {
				for _, p := range en.postings {
					if p.inc.m.ID == id {
						t.Fatalf("%s incident still indexed under %x", to, key)
					}
				}
			}
		})
	}
}

func TestSetStatusRefusesBackwardMoves(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	id := r.addAt(mk(t0, model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.1")))
	r.e.Begin(t0)
	defer r.e.Release(Mark(r.e.seq))
	if _, _, err := r.e.SetStatus(id, model.StatusContained, t0); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.e.SetStatus(id, model.StatusAcknowledged, t0); !ok || err == nil {
		t.Fatalf("contained -> acknowledged: ok=%v err=%v, want a refusal", ok, err)
	}
	if _, ok, _ := r.e.SetStatus(999, model.StatusResolved, t0); ok {
		t.Fatal("unknown incident reported as found")
	}
}

func TestIgnoreList(t *testing.T) {
	cidrs, vals, err := ParseIgnore([]string{"10.0.0.0/24", "2001:db8:53::53", "proxy.corp"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mid  model.Entity
	}{
		{"IPv4 CIDR", dst("10.0.0.5")},
		{"IPv6 address", dst("2001:db8:53::53")},
		{"host value", model.Entity{Kind: model.EntityHost, Value: "proxy.corp", Role: model.RoleDst}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ignore := range []bool{false, true} {
				cfg := DefaultConfig()
				if ignore {
					cfg.IgnoreCIDRs, cfg.IgnoreEntities = cidrs, vals
				}
				r := newEngineRun(t, cfg)
				a := r.addAt(mk(t0, model.SeverityHigh, model.CategoryC2, "c2", src("172.16.1.1"), tc.mid))
				b := r.addAt(mk(t0.Add(time.Minute), model.SeverityHigh, model.CategoryC2, "c2", src("172.16.1.2"), tc.mid))
				if (a == b) == ignore {
					t.Fatalf("ignore=%v: incidents %d and %d", ignore, a, b)
				}
			}
		})
	}
}

// warm makes n distinct clients send low-severity alerts through server.
func warm(r *engineRun, server string, n int, at time.Time) {
	for i := range n {
		r.addAt(mk(at.Add(time.Duration(i)*time.Second), model.SeverityLow, model.CategoryPolicy, "onion dns",
			src(fmt.Sprintf("172.17.1.%d", i+1)), dst(server)))
	}
}

func TestPeerGuardStopsSharedResolver(t *testing.T) {
	for _, warmed := range []bool{false, true} {
		r := newEngineRun(t, DefaultConfig())
		if warmed {
			warm(r, "172.16.0.2", 30, t0)
		}
		at := t0.Add(time.Minute)
		a := r.addAt(mk(at, model.SeverityHigh, model.CategoryC2, "c2 dns", src("172.16.7.33"), dst("172.16.0.2")))
		b := r.addAt(mk(at.Add(time.Minute), model.SeverityHigh, model.CategoryC2, "c2 dns", src("172.16.12.40"), dst("172.16.0.2")))
		if (a != b) != warmed {
			t.Fatalf("resolver with %v warm-up: incidents %d and %d", warmed, a, b)
		}
	}
}

func TestPeerGuardHysteresis(t *testing.T) {
	cfg := DefaultConfig()
	r := newEngineRun(t, cfg)
	warm(r, "172.16.0.2", cfg.MaxPeers+1, t0)
	en := r.e.index[r.e.entityHash("", model.Entity{Kind: model.EntityIP, Value: "172.16.0.2"})]
	if en == nil {
		t.Fatal("resolver not in the index")
	}
	// 15 minutes on, only some of those peers remain in the window: still shared.
	at := t0.Add(cfg.Window + 10*time.Second)
	if !r.e.hub(en, at.UnixNano()) {
		t.Fatal("resolver stopped being shared while half its peers remain")
	}
	if r.e.hub(en, t0.Add(2*cfg.Window).UnixNano()) {
		t.Fatal("resolver still shared with no peer in the window")
	}
}

func TestDifferentCategoriesDoNotJoinThroughDestination(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	a := r.addAt(mk(t0, model.SeverityMedium, model.CategoryExfil, "dns tunnel", src("172.16.8.8"), dst("172.16.0.2")))
	b := r.addAt(mk(t0.Add(time.Minute), model.SeverityHigh, model.CategoryC2, "c2 dns", src("172.16.7.33"), dst("172.16.0.2")))
	c := r.addAt(mk(t0.Add(2*time.Minute), model.SeverityMedium, model.CategoryExfil, "dns tunnel", src("172.16.8.9"), dst("172.16.0.2")))
	if a == b {
		t.Fatal("tunnel and C2 lookup joined through the resolver")
	}
	if a != c {
		t.Fatal("two tunnels through the same destination did not join")
	}
}

func TestLowSeverityDoesNotPivotOnServer(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	a := r.addAt(mk(t0, model.SeverityLow, model.CategoryPolicy, "curl", src("172.17.1.1"), dst("104.16.132.229")))
	b := r.addAt(mk(t0.Add(time.Second), model.SeverityLow, model.CategoryPolicy, "curl", src("172.17.1.2"), dst("104.16.132.229")))
	c := r.addAt(mk(t0.Add(2*time.Second), model.SeverityLow, model.CategoryPolicy, "python", src("172.17.1.1"), dst("151.101.1.69")))
	if a == b {
		t.Fatal("two clients of one CDN joined through it")
	}
	if a != c {
		t.Fatal("one client's low-severity alerts did not join on the client")
	}
}

func TestFloodGroupsOnVictim(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	victim := "172.16.20.80"
	var id int64
	for i := range 120 {
		a := mk(t0.Add(time.Duration(i)*time.Second), model.SeverityMedium, model.CategoryDoS, "ET DOS Possible SYN Flood Inbound",
			src(fmt.Sprintf("%d.%d.%d.%d", 20+i%50, i, 7, 9)), dst(victim))
		got := r.addAt(a)
		if i == 0 {
			id = got
		} else if got != id {
			t.Fatalf("flood alert %d went to %d, want %d", i, got, id)
		}
	}
	// The victim's own monitoring alert joins the flood.
	am := mk(t0.Add(time.Minute), model.SeverityMedium, model.CategoryOther, "HostHighCPU", dst(victim))
	if got := r.addAt(am); got != id {
		t.Fatalf("HostHighCPU on the victim went to %d, want the flood %d", got, id)
	}
	// Something else done to the victim by someone else is not the flood.
	other := mk(t0.Add(2*time.Minute), model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.9"), dst(victim))
	if got := r.addAt(other); got == id {
		t.Fatal("a scan of the victim joined the flood")
	}
	inc, _ := r.e.Incident(id)
	if want := "SYN flood against 172.16.20.80 from 120 sources"; r.e.title(r.e.live[id]) != want {
		t.Fatalf("title %q, want %q", r.e.title(r.e.live[id]), want)
	}
	if inc.AlertCount != 121 {
		t.Fatalf("flood incident has %d alerts", inc.AlertCount)
	}
}

func TestScannerStaysOneIncidentAcrossCategories(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	scanner := "2001:db8:bad::7"
	var id int64
	for i := range 60 {
		got := r.addAt(mk(t0.Add(time.Duration(i)*time.Second), model.SeverityMedium, model.CategoryScan, "ET SCAN NMAP",
			src(scanner), dst(fmt.Sprintf("2001:db8:10::%x", 0x10+i))))
		if i == 0 {
			id = got
		} else if got != id {
			t.Fatalf("scan alert %d went to %d, want %d", i, got, id)
		}
	}
	for i := range 10 {
		got := r.addAt(mk(t0.Add(2*time.Minute+time.Duration(i)*time.Second), model.SeverityMedium, model.CategoryBruteforce,
			"SSH brute force", src(scanner), dst("2001:db8:10::11")))
		if got != id {
			t.Fatalf("brute force %d by the scanner went to %d, want %d", i, got, id)
		}
	}
	if got, want := r.e.title(r.e.live[id]), "Port scan from 2001:db8:bad::7 against 60 hosts"; got != want {
		t.Fatalf("title %q, want %q", got, want)
	}
}

func TestIPv6Correlation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IgnoreCIDRs = []netip.Prefix{netip.MustParsePrefix("2001:db8:53::/64")}
	r := newEngineRun(t, cfg)
	a := r.addAt(mk(t0, model.SeverityMedium, model.CategoryBruteforce, "SSH brute force", src("2001:db8:bad::1"), dst("2001:db8:10::a")))
	b := r.addAt(mk(t0.Add(time.Minute), model.SeverityMedium, model.CategoryBruteforce, "SSH brute force", src("2001:db8:bad::1"), dst("2001:db8:10::b")))
	c := r.addAt(mk(t0.Add(time.Minute), model.SeverityHigh, model.CategoryExfil, "dns tunnel", src("2001:db8:10::c"), dst("2001:db8:53::53")))
	d := r.addAt(mk(t0.Add(time.Minute), model.SeverityHigh, model.CategoryExfil, "dns tunnel", src("2001:db8:10::d"), dst("2001:db8:53::53")))
	if a != b {
		t.Fatal("IPv6 brute force split")
	}
	if c == d {
		t.Fatal("ignored IPv6 resolver glued two hosts")
	}
	if got, want := r.e.title(r.e.live[a]), "SSH brute force from 2001:db8:bad::1 against 2 hosts"; got != want {
		t.Fatalf("title %q, want %q", got, want)
	}
}

func TestDedupByFingerprint(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DedupCap = 4
	r := newEngineRun(t, cfg)
	a := mk(t0, model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.1"))
	r.addAt(a)
	if id, dup := r.e.IsDuplicate(a.Fingerprint); !dup || id != a.ID {
		t.Fatalf("IsDuplicate = %d, %v; want %d, true", id, dup, a.ID)
	}
	// Memory stays bounded: after DedupCap newer fingerprints the oldest is forgotten.
	for i := range cfg.DedupCap {
		r.addAt(mk(t0.Add(time.Duration(i+1)*time.Second), model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.1")))
	}
	if _, dup := r.e.IsDuplicate(a.Fingerprint); dup {
		t.Fatal("fingerprint kept past the capacity")
	}
	if n := r.e.Stats().Fingerprints; n > cfg.DedupCap {
		t.Fatalf("%d fingerprints kept, capacity %d", n, cfg.DedupCap)
	}
}

func TestNotifiableThresholds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NotifyCount = 5
	r := newEngineRun(t, cfg)
	var id int64
	for i := range 5 {
		id = r.addAt(mk(t0.Add(time.Duration(i)*time.Second), model.SeverityLow, model.CategoryPolicy, "curl", src("172.17.1.1"), dst("104.16.132.229")))
		if want := i == 4; r.notifiable[id] != want {
			t.Fatalf("after %d low alerts notifiable=%v, want %v", i+1, r.notifiable[id], want)
		}
	}
	m := r.addAt(mk(t0, model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.1")))
	if !r.notifiable[m] {
		t.Fatal("a medium incident is not notifiable")
	}
}

func TestTitles(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	bf := r.addAt(mk(t0, model.SeverityMedium, model.CategoryBruteforce, "ET SCAN Potential SSH Scan", src("203.0.113.7"), dst("172.16.5.10")))
	for i, h := range []string{"172.16.5.11", "172.16.5.12"} {
		r.addAt(mk(t0.Add(time.Duration(i+1)*time.Second), model.SeverityMedium, model.CategoryBruteforce, "ET SCAN Potential SSH Scan", src("203.0.113.7"), dst(h)))
	}
	c2 := r.addAt(mk(t0, model.SeverityHigh, model.CategoryC2, "ET MALWARE Cobalt Strike Beacon Observed", src("172.16.7.33"), dst("93.184.216.34")))
	tun := r.addAt(mk(t0, model.SeverityMedium, model.CategoryOther, "ET DNS Query for Suspicious Long TXT Subdomain - Possible DNS Tunneling", src("172.16.8.8"), dst("172.16.0.2")))
	cpu := r.addAt(mk(t0, model.SeverityMedium, model.CategoryOther, "HostHighCPU", dst("172.16.30.4")))
	for id, want := range map[int64]string{
		bf:  "SSH brute force from 203.0.113.7 against 3 hosts",
		c2:  "C2 beaconing from host 172.16.7.33",
		tun: "DNS tunnelling from 172.16.8.8 via 172.16.0.2",
		cpu: "HostHighCPU on 172.16.30.4",
	} {
		if got := r.titles[id]; got != want {
			t.Errorf("title %q, want %q", got, want)
		}
	}
	// The title follows the incident as it grows.
	r.addAt(mk(t0.Add(time.Minute), model.SeverityHigh, model.CategoryC2, "ET MALWARE Cobalt Strike Beacon Observed", src("172.16.7.40"), dst("93.184.216.34")))
	if got, want := r.titles[c2], "C2 beaconing from host 172.16.7.33 and 1 other hosts"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
}

func TestDrillsDoNotMixWithRealIncidents(t *testing.T) {
	r := newEngineRun(t, DefaultConfig())
	real := r.addAt(mk(t0, model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.7.33"), dst("93.184.216.34")))
	d := mk(t0, model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.7.33"), dst("93.184.216.34"))
	d.DrillID = "drill-1"
	drill := r.addAt(d)
	if drill == real {
		t.Fatal("drill alert joined a real incident")
	}
	if inc, _ := r.e.Incident(drill); inc.Kind != model.KindDrill || inc.DrillID != "drill-1" {
		t.Fatalf("drill incident kind %s drill %q", inc.Kind, inc.DrillID)
	}
}

func TestSweepForgetsIdleState(t *testing.T) {
	cfg := DefaultConfig()
	r := newEngineRun(t, cfg)
	id := r.addAt(mk(t0, model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.1")))
	if r.e.Stats().IndexKeys == 0 {
		t.Fatal("nothing indexed")
	}
	// Nothing mentions those entities for Window+Retain of wall time.
	later := t0.Add(cfg.Window + cfg.Retain + time.Minute)
	got := r.add(later, mk(t0.Add(time.Minute), model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.99"), dst("172.16.9.99")))
	if got == id {
		t.Fatal("unrelated alert joined")
	}
	indexed := func(ip string) []string { // the entity's own key and its scoped keys
		var held []string
		h := r.e.entityHash("", model.Entity{Kind: model.EntityIP, Value: ip})
		if r.e.index[h] != nil {
			held = append(held, ip)
		}
		for code, c := range model.Categories {
			for _, side := range []uint8{sideSrc, sideDst} {
				if r.e.index[r.e.scopedKey(uint8(code+1), side, h)] != nil {
					held = append(held, fmt.Sprintf("%s/%s/%d", ip, c, side))
				}
			}
		}
		return held
	}
	if held := indexed("198.51.100.1"); held != nil {
		t.Fatalf("idle keys still indexed: %v", held)
	}
	// A scanner may fan out (FanRoles): its source has a scan key too.
	if held := indexed("198.51.100.99"); len(held) != 2 || held[1] != "198.51.100.99/scan/1" {
		t.Fatalf("keys of the new alert's source: %v, want its own and its scan key", held)
	}
	if held := indexed("172.16.9.99"); len(held) != 2 || held[1] != "172.16.9.99/scan/2" {
		t.Fatalf("keys of the new alert's destination: %v, want its own and its scan key", held)
	}
	if inc := r.e.live[id]; inc == nil || !inc.extra.dormant {
		t.Fatal("idle incident not dormant")
	}
	// A very late alert about the idle incident's entities opens a new incident.
	if got := r.add(later, mk(t0.Add(2*time.Minute), model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.2"))); got == id {
		t.Fatal("dormant incident absorbed an alert")
	}
}

// dump renders the engine's whole correlation state, for comparing two engines.
func dump(e *Engine) string {
	var lines []string
	for key, en := range e.index {
		var ps []string
		for _, p := range en.postings {
			ps = append(ps, fmt.Sprintf("%d[%d,%d]", p.inc.m.ID, p.first, p.last))
		}
		sort.Strings(ps)
		var peers []string
		for _, p := range en.peers {
			peers = append(peers, fmt.Sprintf("%x@%d", p.h, p.last))
		}
		sort.Strings(peers)
		var rel []string
		for _, r := range en.rel {
			if !r.dead {
				rel = append(rel, fmt.Sprintf("%x", r.h))
			}
		}
		sort.Strings(rel)
		lines = append(lines, fmt.Sprintf("key %x dead=%v shared=%v fan=%v seen=%d post=%v peers=%v rel=%v",
			key, en.dead, en.shared, en.fanOK, en.seen, ps, peers, rel))
	}
	for id, inc := range e.live {
		var keys []string
		for _, k := range inc.keys {
			if !k.dead && slices.ContainsFunc(k.postings, func(p posting) bool { return p.inc == inc }) {
				keys = append(keys, fmt.Sprintf("%x", k.h))
			}
		}
		sort.Strings(keys)
		m := inc.m
		m.Title = e.title(inc)
		lines = append(lines, fmt.Sprintf("inc %d %+v keys=%v members=%d extra=%+v", id, m, keys, len(inc.members), inc.extra))
	}
	for fp, id := range e.fpCur {
		lines = append(lines, fmt.Sprintf("fp %x %d", fp, id))
	}
	for fp, id := range e.fpPrev {
		lines = append(lines, fmt.Sprintf("fp %x %d", fp, id))
	}
	lines = append(lines, fmt.Sprintf("wall %d sweep %d", e.wallNow, e.lastSweep))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
