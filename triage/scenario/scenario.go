// Package scenario generates labelled alert streams for testing correlation: Suricata
// EVE JSON alert lines and Alertmanager webhook (version 4) payloads, each alert
// labelled with the group it truly belongs to. The generator is deterministic for a
// seed.
//
// A corpus holds campaigns (an SSH brute force against several hosts, a kill chain
// that beacons and then moves laterally over SMB, every compromised host beaconing in
// turn, a port sweep, a SYN flood keyed on its victim from many sources with
// Alertmanager alerts from the victim, DNS tunnelling through the shared resolver, an
// IPv6 scan-then-brute-force, a second kill chain) among low-severity policy noise from
// many clients through shared resolvers and CDNs, and low-severity Alertmanager
// noise. A share of the EVE alerts is delivered minutes late, out of event-time order.
//
// Labels follow the scheme of the shared corpus: a campaign label such as
// "A-bruteforce", or "noise-N" for an alert that belongs to no group but its own.
// Corpus.WriteDir writes suricata.ndjson, alertmanager.json and labels.json in that
// corpus's layout, so its score.py can score a grouping of it.
package scenario

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Options shapes a corpus. Zero fields take the defaults.
type Options struct {
	// Start is the event time the corpus begins at (default 2026-11-20T08:00:00Z).
	Start time.Time
	// Noise is the number of noise EVE alerts (default 900).
	Noise int
	// AMNoise is the number of noise Alertmanager alerts (default 40).
	AMNoise int
	// Late is the share of EVE alerts delivered 1 to 8 minutes late (default 0.05;
	// negative for none).
	Late float64
}

// Delivery is one item of the corpus in arrival order: EVE line I, or Alertmanager
// payload I when AM is set, arriving at At (wall time).
type Delivery struct {
	AM bool
	I  int
	At time.Time
}

// Corpus is a generated scenario. EVE lines and AM payloads are each in arrival order;
// Deliveries interleaves them.
type Corpus struct {
	Seed       uint64
	EVE        [][]byte   // one EVE JSON object per line
	EVELabels  []string   // the group of each EVE line
	AM         [][]byte   // Alertmanager webhook payloads (version 4), JSON
	AMLabels   [][]string // the group of each alert of each payload
	Deliveries []Delivery
	// Campaigns lists the campaign labels, sorted.
	Campaigns []string
}

// Labels is labels.json: {"suricata": [...], "alertmanager": [[...], ...]}.
type Labels struct {
	Suricata     []string   `json:"suricata"`
	Alertmanager [][]string `json:"alertmanager,omitempty"`
}

// Labels returns the corpus's labels in the labels.json shape.
func (c *Corpus) Labels() Labels {
	return Labels{Suricata: c.EVELabels, Alertmanager: c.AMLabels}
}

// WriteDir writes suricata.ndjson, alertmanager.json and labels.json into dir.
func (c *Corpus) WriteDir(dir string) error {
	var b strings.Builder
	for _, l := range c.EVE {
		b.Write(l)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "suricata.ndjson"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write corpus: %w", err)
	}
	am := make([]json.RawMessage, len(c.AM))
	for i, p := range c.AM {
		am[i] = p
	}
	for name, v := range map[string]any{"alertmanager.json": am, "labels.json": c.Labels()} {
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("write corpus %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), j, 0o644); err != nil {
			return fmt.Errorf("write corpus: %w", err)
		}
	}
	return nil
}

// Shared infrastructure every corpus uses.
var (
	// Resolvers are the internal DNS resolvers all clients query.
	Resolvers = []string{"172.16.0.2", "172.16.0.3"}
	// CDNs are content delivery addresses many clients talk to.
	CDNs = []string{"104.16.132.229", "151.101.1.69", "13.32.99.10", "23.215.0.136"}
)

type eveAlert struct {
	t        time.Time
	src, dst string
	sport    int
	dport    int
	proto    string
	app      string
	sig      sig
	label    string
	late     time.Duration
}

type sig struct {
	id       int
	name     string
	class    string
	severity int
}

var (
	sigSSHScan   = sig{2001219, "ET SCAN Potential SSH Scan", "Attempted Information Leak", 2}
	sigSSHBrute  = sig{2019876, "ET SCAN LibSSH Based Frequent SSH Connections Likely BruteForce Attack", "Attempted Administrator Privilege Gain", 2}
	sigNmap      = sig{2009582, "ET SCAN NMAP -sS window 1024", "Attempted Information Leak", 2}
	sigMySQL     = sig{2010937, "ET SCAN Suspicious inbound to mySQL port 3306", "Potentially Bad Traffic", 2}
	sigMSSQL     = sig{2010935, "ET SCAN Suspicious inbound to MSSQL port 1433", "Potentially Bad Traffic", 2}
	sigBeacon    = sig{2027863, "ET MALWARE Cobalt Strike Beacon Observed", "A Network Trojan was detected", 1}
	sigC2DNS     = sig{2027864, "ET MALWARE Observed DNS Query to Cobalt Strike C2 Domain", "A Network Trojan was detected", 1}
	sigSMBExe    = sig{2025709, "ET POLICY SMB2 NT Create AndX Request For an Executable File", "Potentially Bad Traffic", 2}
	sigPsExec    = sig{2010781, "ET POLICY PsExec service created via SMB", "Potentially Bad Traffic", 2}
	sigSYN       = sig{2100000, "ET DOS Possible SYN Flood Inbound", "Attempted Denial of Service", 2}
	sigTunnel    = sig{2027758, "ET DNS Query for Suspicious Long TXT Subdomain - Possible DNS Tunneling", "Potentially Bad Traffic", 2}
	sigOnion     = sig{2014939, "ET POLICY DNS Query to .onion proxy Domain", "Potential Corporate Privacy Violation", 3}
	sigCloudTLD  = sig{2027865, "ET INFO Observed DNS Query to .cloud TLD", "Potentially Bad Traffic", 3}
	sigCurl      = sig{2013028, "ET POLICY curl User-Agent Outbound", "Attempted Information Leak", 3}
	sigDropbox   = sig{2012647, "ET POLICY Dropbox.com Offsite File Backup in Use", "Potential Corporate Privacy Violation", 3}
	sigSTUN      = sig{2016149, "ET INFO Session Traversal Utilities for NAT (STUN Binding Request)", "Attempted User Privilege Gain", 3}
	sigPythonUA  = sig{2017515, "ET POLICY Python-urllib/ Suspicious User Agent", "Attempted Information Leak", 3}
	amNoiseRules = []string{"NodeDiskSpaceLow", "NodeClockSkewDetected", "NodeFilesystemAlmostFull", "NodeNetworkReceiveErrs"}
)

type amAlert struct {
	t        time.Time
	name     string
	instance string
	severity string
	summary  string
	label    string
}

type gen struct {
	r      *rand.Rand
	start  time.Time
	eve    []eveAlert
	am     []amAlert
	used   map[string]bool
	noiseN int
	flow   uint64
}

// Generate builds the corpus for seed.
func Generate(seed uint64, opts Options) *Corpus {
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	}
	if opts.Noise == 0 {
		opts.Noise = 900
	}
	if opts.AMNoise == 0 {
		opts.AMNoise = 40
	}
	if opts.Late == 0 {
		opts.Late = 0.05
	}
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: opts.Start, used: map[string]bool{}}
	for _, a := range append(append([]string{}, Resolvers...), CDNs...) {
		g.used[a] = true
	}
	// Campaigns start at random points of a three-hour stream.
	at := func(lo, hi int) time.Time {
		return g.start.Add(time.Duration(lo+g.r.IntN(hi-lo)) * time.Minute).Add(g.jitter(time.Minute))
	}
	g.bruteforce("A-bruteforce", at(10, 120))
	g.killchain("B-killchain", at(5, 60), "172.16.7.")
	g.scan("C-scan", at(20, 150))
	g.flood("D-ddos", at(20, 150))
	g.tunnel("E-dnstunnel", at(30, 140))
	g.ipv6("F-ipv6", at(15, 140))
	g.killchain("G-killchain", at(60, 110), "172.16.12.")
	g.noise(opts.Noise, 190*time.Minute)
	g.amNoise(opts.AMNoise, 190*time.Minute)
	return g.build(seed, opts.Late)
}

func (g *gen) jitter(d time.Duration) time.Duration {
	return time.Duration(g.r.Int64N(int64(d)))
}

// ext returns a fresh public-looking IPv4 address.
func (g *gen) ext() string {
	for {
		a := netip.AddrFrom4([4]byte{byte(11 + g.r.IntN(200)), byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(1 + g.r.IntN(254))})
		if a.IsPrivate() || a.IsLoopback() || a.IsMulticast() || g.used[a.String()] {
			continue
		}
		if b := a.As4(); b[0] == 100 || b[0] == 127 || b[0] == 169 || b[0] == 172 || b[0] == 192 || b[0] == 198 {
			continue
		}
		g.used[a.String()] = true
		return a.String()
	}
}

// fresh returns prefix+N for an unused N in [lo, hi].
func (g *gen) fresh(prefix string, lo, hi int) string {
	for {
		a := fmt.Sprintf("%s%d", prefix, lo+g.r.IntN(hi-lo+1))
		if !g.used[a] {
			g.used[a] = true
			return a
		}
	}
}

func (g *gen) sport() int { return 32768 + g.r.IntN(28000) }

func (g *gen) add(a eveAlert) {
	if a.sport == 0 {
		a.sport = g.sport()
	}
	if a.proto == "" {
		a.proto = "TCP"
	}
	g.eve = append(g.eve, a)
}

// bruteforce: one attacker against 2 to 4 SSH servers, with login-failure alerts from
// Alertmanager about one of them.
func (g *gen) bruteforce(label string, t0 time.Time) {
	attacker := g.fresh("203.0.113.", 2, 250)
	n := 2 + g.r.IntN(3)
	victims := make([]string, n)
	for i := range victims {
		victims[i] = g.fresh("172.16.5.", 10, 60)
	}
	count := 90 + g.r.IntN(80)
	span := time.Duration(8+g.r.IntN(8)) * time.Minute
	for i := range count {
		t := t0.Add(span * time.Duration(i) / time.Duration(count)).Add(g.jitter(3 * time.Second))
		s := sigSSHScan
		if g.r.IntN(4) == 0 {
			s = sigSSHBrute
		}
		g.add(eveAlert{t: t, src: attacker, dst: victims[g.r.IntN(n)], dport: 22, app: "ssh", sig: s, label: label})
	}
	g.am = append(g.am, amAlert{t: t0.Add(span / 2), name: "SSHLoginFailuresHigh", instance: victims[0] + ":9100",
		severity: "warning", summary: "Many failed SSH logins on " + victims[0], label: label})
}

// killchain: patient zero beacons to its C2, then moves over SMB to other hosts; each
// compromised host beacons too, and one of them moves on to a further host.
func (g *gen) killchain(label string, t0 time.Time, net string) {
	c2 := g.ext()
	p0 := g.fresh(net, 20, 60)
	end := t0.Add(time.Duration(55+g.r.IntN(30)) * time.Minute)
	type hop struct {
		host string
		from time.Time
	}
	hosts := []hop{{p0, t0}}
	// Lateral movement from patient zero, then one hop further from the first victim.
	nLat := 2 + g.r.IntN(2)
	lt := t0.Add(time.Duration(6+g.r.IntN(8)) * time.Minute)
	for i := range nLat {
		src := p0
		if i == nLat-1 && len(hosts) > 1 {
			src = hosts[1].host
		}
		dst := g.fresh(net, 61, 120)
		for k := range 3 + g.r.IntN(4) {
			s := sigSMBExe
			if k%3 == 2 {
				s = sigPsExec
			}
			g.add(eveAlert{t: lt.Add(time.Duration(k) * 7 * time.Second), src: src, dst: dst, dport: 445, app: "smb", sig: s, label: label})
		}
		hosts = append(hosts, hop{dst, lt.Add(time.Duration(1+g.r.IntN(3)) * time.Minute)})
		lt = lt.Add(time.Duration(4+g.r.IntN(8)) * time.Minute)
	}
	for _, h := range hosts {
		period := time.Duration(50+g.r.IntN(40)) * time.Second
		for t := h.from; t.Before(end); t = t.Add(period + g.jitter(period/5) - period/10) {
			g.add(eveAlert{t: t, src: h.host, dst: c2, dport: 443, app: "tls", sig: sigBeacon, label: label})
		}
		// The implant resolves its C2 domain through the shared resolver now and then.
		resolver := Resolvers[g.r.IntN(len(Resolvers))]
		for t := h.from.Add(-20 * time.Second); t.Before(end); t = t.Add(time.Duration(8+g.r.IntN(8)) * time.Minute) {
			g.add(eveAlert{t: t, src: h.host, dst: resolver, dport: 53, proto: "UDP", app: "dns", sig: sigC2DNS, label: label})
		}
	}
}

// scan: one scanner sweeps 100 to 220 hosts of a server network within minutes.
func (g *gen) scan(label string, t0 time.Time) {
	scanner := g.fresh("198.51.100.", 2, 250)
	n := 100 + g.r.IntN(120)
	third := 9 + g.r.IntN(2)
	ports := []int{22, 80, 443, 445, 3389, 3306, 1433, 8080}
	for i := range n {
		dst := fmt.Sprintf("172.16.%d.%d", third, 1+i%254)
		p := ports[g.r.IntN(len(ports))]
		s := sigNmap
		switch p {
		case 3306:
			s = sigMySQL
		case 1433:
			s = sigMSSQL
		}
		t := t0.Add(time.Duration(i) * 600 * time.Millisecond).Add(g.jitter(500 * time.Millisecond))
		g.add(eveAlert{t: t, src: scanner, dst: dst, dport: p, sig: s, label: label})
	}
}

// flood: a SYN flood on one web server from 80 to 200 sources, with the server's own
// monitoring alerts about CPU and interface errors during it.
func (g *gen) flood(label string, t0 time.Time) {
	victim := g.fresh("172.16.20.", 10, 200)
	n := 80 + g.r.IntN(120)
	span := time.Duration(2+g.r.IntN(3)) * time.Minute
	for i := range n {
		t := t0.Add(span * time.Duration(i) / time.Duration(n)).Add(g.jitter(time.Second))
		g.add(eveAlert{t: t, src: g.ext(), dst: victim, dport: 80, sig: sigSYN, label: label})
	}
	g.am = append(g.am,
		amAlert{t: t0.Add(span / 3), name: "HostHighCPU", instance: victim + ":9100", severity: "warning",
			summary: "CPU above 95% on " + victim, label: label},
		amAlert{t: t0.Add(span / 2), name: "InterfaceErrors", instance: victim + ":9100", severity: "warning",
			summary: "Receive errors on eth0 of " + victim, label: label})
}

// tunnel: one host tunnels data through DNS TXT queries to the shared resolver.
func (g *gen) tunnel(label string, t0 time.Time) {
	host := g.fresh("172.16.8.", 2, 250)
	resolver := Resolvers[g.r.IntN(len(Resolvers))]
	n := 35 + g.r.IntN(30)
	span := time.Duration(10+g.r.IntN(6)) * time.Minute
	for i := range n {
		t := t0.Add(span * time.Duration(i) / time.Duration(n)).Add(g.jitter(5 * time.Second))
		g.add(eveAlert{t: t, src: host, dst: resolver, dport: 53, proto: "UDP", app: "dns", sig: sigTunnel, label: label})
	}
}

// ipv6: an IPv6 scanner sweeps a v6 server network, then brute-forces two of its hosts.
func (g *gen) ipv6(label string, t0 time.Time) {
	attacker := fmt.Sprintf("2001:db8:bad:%x::%x", 1+g.r.IntN(0xfff), 1+g.r.IntN(0xffff))
	net := fmt.Sprintf("2001:db8:%x:10::", 0x100+g.r.IntN(0xf00))
	n := 20 + g.r.IntN(20)
	for i := range n {
		t := t0.Add(time.Duration(i) * 2 * time.Second)
		g.add(eveAlert{t: t, src: attacker, dst: fmt.Sprintf("%s%x", net, 0x10+i), dport: 22, sig: sigNmap, label: label})
	}
	v := []string{fmt.Sprintf("%s%x", net, 0x10+g.r.IntN(n)), fmt.Sprintf("%s%x", net, 0x10+n+5)}
	bt := t0.Add(time.Duration(n)*2*time.Second + 2*time.Minute)
	for i := range 40 + g.r.IntN(40) {
		t := bt.Add(time.Duration(i) * 6 * time.Second).Add(g.jitter(2 * time.Second))
		g.add(eveAlert{t: t, src: attacker, dst: v[i%2], dport: 22, app: "ssh", sig: sigSSHScan, label: label})
	}
}

// noise: low-severity policy alerts from a pool of clients, most of them through the
// shared resolvers and CDNs, each alert its own group.
func (g *gen) noise(n int, span time.Duration) {
	clients := make([]string, 420)
	for i := range clients {
		clients[i] = fmt.Sprintf("172.17.%d.%d", 1+i/200, 2+i%200)
	}
	for range n {
		t := g.start.Add(g.jitter(span))
		c := clients[g.r.IntN(len(clients))]
		a := eveAlert{t: t, src: c, label: g.noiseLabel()}
		switch k := g.r.IntN(10); {
		case k < 3:
			a.dst, a.dport, a.proto, a.app, a.sig = Resolvers[g.r.IntN(len(Resolvers))], 53, "UDP", "dns", sigOnion
		case k < 4:
			a.dst, a.dport, a.proto, a.app, a.sig = Resolvers[g.r.IntN(len(Resolvers))], 53, "UDP", "dns", sigCloudTLD
		case k < 6:
			a.dst, a.dport, a.app, a.sig = CDNs[g.r.IntN(len(CDNs))], 443, "http", sigCurl
		case k < 7:
			a.dst, a.dport, a.app, a.sig = CDNs[g.r.IntN(len(CDNs))], 443, "tls", sigDropbox
		case k < 8:
			a.dst, a.dport, a.app, a.sig = CDNs[g.r.IntN(len(CDNs))], 80, "http", sigPythonUA
		default:
			a.dst, a.dport, a.proto, a.sig = g.ext(), 3478, "UDP", sigSTUN
		}
		g.add(a)
	}
}

func (g *gen) noiseLabel() string {
	g.noiseN++
	return fmt.Sprintf("noise-%d", g.noiseN)
}

// amNoise: informational Alertmanager alerts about unrelated servers.
func (g *gen) amNoise(n int, span time.Duration) {
	for range n {
		host := fmt.Sprintf("172.16.30.%d", 2+g.r.IntN(250))
		name := amNoiseRules[g.r.IntN(len(amNoiseRules))]
		g.am = append(g.am, amAlert{t: g.start.Add(g.jitter(span)), name: name, instance: host + ":9100",
			severity: "info", summary: name + " on " + host, label: g.noiseLabel()})
	}
}

func (g *gen) build(seed uint64, late float64) *Corpus {
	c := &Corpus{Seed: seed}
	type item struct {
		arrive time.Time
		eve    int
		am     int
	}
	var items []item
	for i := range g.eve {
		a := &g.eve[i]
		d := g.jitter(2 * time.Second)
		if late > 0 && g.r.Float64() < late {
			d = time.Minute + g.jitter(7*time.Minute)
		}
		a.late = d
		items = append(items, item{arrive: a.t.Add(d), eve: i, am: -1})
	}
	// Alertmanager groups alerts arriving together into one notification after its
	// group wait; each alert is sent once here.
	sort.SliceStable(g.am, func(i, j int) bool { return g.am[i].t.Before(g.am[j].t) })
	for i := range g.am {
		items = append(items, item{arrive: g.am[i].t.Add(30*time.Second + g.jitter(30*time.Second)), eve: -1, am: i})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].arrive.Before(items[j].arrive) })
	campaigns := map[string]bool{}
	for _, it := range items {
		if it.eve >= 0 {
			a := &g.eve[it.eve]
			c.Deliveries = append(c.Deliveries, Delivery{I: len(c.EVE), At: it.arrive})
			c.EVE = append(c.EVE, g.eveJSON(a))
			c.EVELabels = append(c.EVELabels, a.label)
			if !strings.HasPrefix(a.label, "noise") {
				campaigns[a.label] = true
			}
			continue
		}
		a := &g.am[it.am]
		c.Deliveries = append(c.Deliveries, Delivery{AM: true, I: len(c.AM), At: it.arrive})
		c.AM = append(c.AM, amPayload(a))
		c.AMLabels = append(c.AMLabels, []string{a.label})
		if !strings.HasPrefix(a.label, "noise") {
			campaigns[a.label] = true
		}
	}
	for l := range campaigns {
		c.Campaigns = append(c.Campaigns, l)
	}
	sort.Strings(c.Campaigns)
	return c
}

type eveJSON struct {
	Timestamp   string  `json:"timestamp"`
	FlowID      uint64  `json:"flow_id"`
	InIface     string  `json:"in_iface"`
	EventType   string  `json:"event_type"`
	SrcIP       string  `json:"src_ip"`
	SrcPort     int     `json:"src_port"`
	DestIP      string  `json:"dest_ip"`
	DestPort    int     `json:"dest_port"`
	Proto       string  `json:"proto"`
	CommunityID string  `json:"community_id"`
	Alert       eveSig  `json:"alert"`
	Flow        eveFlow `json:"flow"`
	AppProto    string  `json:"app_proto,omitempty"`
	Direction   string  `json:"direction,omitempty"`
}

type eveSig struct {
	Action      string `json:"action"`
	GID         int    `json:"gid"`
	SignatureID int    `json:"signature_id"`
	Rev         int    `json:"rev"`
	Signature   string `json:"signature"`
	Category    string `json:"category"`
	Severity    int    `json:"severity"`
}

type eveFlow struct {
	PktsToServer  int    `json:"pkts_toserver"`
	PktsToClient  int    `json:"pkts_toclient"`
	BytesToServer int    `json:"bytes_toserver"`
	BytesToClient int    `json:"bytes_toclient"`
	Start         string `json:"start"`
}

// EVETimeLayout is how Suricata writes timestamps.
const EVETimeLayout = "2006-01-02T15:04:05.000000-0700"

func (g *gen) eveJSON(a *eveAlert) []byte {
	g.flow++
	ts := a.t.Format(EVETimeLayout)
	v := eveJSON{
		Timestamp: ts, FlowID: 1_000_000_000_000 + g.flow*7919, InIface: "eth1", EventType: "alert",
		SrcIP: a.src, SrcPort: a.sport, DestIP: a.dst, DestPort: a.dport, Proto: a.proto,
		CommunityID: CommunityID(a.src, a.dst, a.proto, a.sport, a.dport),
		Alert: eveSig{Action: "allowed", GID: 1, SignatureID: a.sig.id, Rev: 3, Signature: a.sig.name,
			Category: a.sig.class, Severity: a.sig.severity},
		Flow: eveFlow{PktsToServer: 1 + g.r.IntN(40), PktsToClient: g.r.IntN(40), BytesToServer: 60 + g.r.IntN(9000),
			BytesToClient: g.r.IntN(9000), Start: ts},
		AppProto:  a.app,
		Direction: "to_server",
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain values: cannot fail
	}
	return b
}

// CommunityID computes the Community ID flow hash (version 1, seed 0) of a TCP or UDP
// flow, as Suricata writes it in community_id.
func CommunityID(src, dst, proto string, sport, dport int) string {
	sa, _ := netip.ParseAddr(src)
	da, _ := netip.ParseAddr(dst)
	var p byte = 6
	if proto == "UDP" {
		p = 17
	}
	sp, dp := uint16(sport), uint16(dport)
	if da.Less(sa) || da == sa && dp < sp {
		sa, da, sp, dp = da, sa, dp, sp
	}
	var b []byte
	b = binary.BigEndian.AppendUint16(b, 0)
	b = append(b, sa.AsSlice()...)
	b = append(b, da.AsSlice()...)
	b = append(b, p, 0)
	b = binary.BigEndian.AppendUint16(b, sp)
	b = binary.BigEndian.AppendUint16(b, dp)
	h := sha1.Sum(b)
	return "1:" + base64.StdEncoding.EncodeToString(h[:])
}

type amPayloadJSON struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlertJSON     `json:"alerts"`
}

type amAlertJSON struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

func amPayload(a *amAlert) []byte {
	labels := map[string]string{"alertname": a.name, "instance": a.instance, "job": "node", "severity": a.severity}
	ann := map[string]string{"summary": a.summary}
	fp := sha1.Sum([]byte(a.name + "|" + a.instance + "|" + a.t.String()))
	v := amPayloadJSON{
		Version: "4", GroupKey: fmt.Sprintf(`{}:{alertname=%q}`, a.name), Status: "firing", Receiver: "warroom",
		GroupLabels: map[string]string{"alertname": a.name}, CommonLabels: labels, CommonAnnotations: ann,
		ExternalURL: "http://alertmanager.example:9093",
		Alerts: []amAlertJSON{{
			Status: "firing", Labels: labels, Annotations: ann,
			StartsAt: a.t.Format(time.RFC3339Nano), EndsAt: "0001-01-01T00:00:00Z",
			GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=" + a.name,
			Fingerprint:  fmt.Sprintf("%x", fp[:8]),
		}},
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
