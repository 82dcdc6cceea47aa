package loadgen

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// The scenario: Incidents campaigns, each between one attacker address and its own
// Victims hosts, so the alerts group into exactly Incidents incidents. Addresses come
// from the documentation ranges (RFC 5737) and then the benchmarking range
// 198.18.0.0/15 (RFC 2544), with 2001:db8::/32 (RFC 3849) past those.
//
// Request bodies are built once as templates. Sending one copies its template and
// writes two things per alert into fixed-width slots: the event time (the run's base
// time plus the alert's sequence number in microseconds) and the sequence number
// itself, so every alert of a run, and of every run, is distinct while costing the
// generator a copy and a few digits.

type slotKind uint8

const (
	slotTime slotKind = iota // "2006-01-02T15:04:05.000000", 26 bytes
	slotSeq                  // 10 decimal digits
)

const (
	timeLayout = "2006-01-02T15:04:05.000000"
	timeWidth  = len(timeLayout)
	seqWidth   = 10
)

type slot struct {
	off  int
	kind slotKind
	item int // index of the alert within the body
}

type template struct {
	b     []byte
	slots []slot
}

// payloads holds the pre-built bodies of one run.
type payloads struct {
	bodies      []template
	contentType string
	base        time.Time // event time of alert sequence 0, UTC, a whole second
}

// render writes the body for request reqSeq, whose first alert has sequence first,
// into dst (reused) and returns it.
func (p *payloads) render(dst []byte, reqSeq, first int64) []byte {
	t := &p.bodies[reqSeq%int64(len(p.bodies))]
	dst = append(dst[:0], t.b...)
	// The base time is a whole second, so an alert's time is that second plus
	// seq/1e6 seconds and seq%1e6 microseconds: the date and clock part is formatted
	// once per second of sequence numbers, the microseconds are digits.
	var prefix [64]byte
	pre := prefix[:0]
	lastSec := int64(-1)
	for _, s := range t.slots {
		seq := first + int64(s.item)
		switch s.kind {
		case slotTime:
			if sec := seq / 1e6; sec != lastSec {
				pre = p.base.Add(time.Duration(sec)*time.Second).AppendFormat(prefix[:0], "2006-01-02T15:04:05.")
				lastSec = sec
			}
			copy(dst[s.off:], pre)
			putDigits(dst[s.off+len(pre):s.off+timeWidth], seq%1e6)
		case slotSeq:
			putDigits(dst[s.off:s.off+seqWidth], seq)
		}
	}
	return dst
}

// putDigits writes v modulo 10^len(b) as zero-padded decimal digits.
func putDigits(b []byte, v int64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// builder appends JSON text and records slots.
type builder struct {
	b     []byte
	slots []slot
	item  int
}

func (w *builder) raw(s string) { w.b = append(w.b, s...) }

func (w *builder) str(s string) {
	q, _ := json.Marshal(s)
	w.b = append(w.b, q...)
}

func (w *builder) int(v int64) { w.b = strconv.AppendInt(w.b, v, 10) }

func (w *builder) timeSlot() {
	w.slots = append(w.slots, slot{off: len(w.b), kind: slotTime, item: w.item})
	w.b = append(w.b, "0000-00-00T00:00:00.000000"...)
}

func (w *builder) seqSlot() {
	w.slots = append(w.slots, slot{off: len(w.b), kind: slotSeq, item: w.item})
	for range seqWidth {
		w.b = append(w.b, '0')
	}
}

// profile is one kind of campaign: what the IDS says about it.
type profile struct {
	rule, title, severity, category string // generic fields
	sid, rev, suriSeverity          int
	signature, suriCategory         string
	proto, appProto                 string
	ports                           []int
	outbound                        bool // the victim connects to the attacker (C2, exfil)
	amName                          string
}

var profiles = []profile{
	{rule: "ssh-bruteforce", title: "SSH brute force attempt", severity: "high", category: "bruteforce",
		sid: 2001219, rev: 20, suriSeverity: 2, signature: "ET SCAN Potential SSH Scan", suriCategory: "Attempted Information Leak",
		proto: "TCP", appProto: "ssh", ports: []int{22}, amName: "SSHBruteForce"},
	{rule: "port-scan", title: "Inbound port scan", severity: "medium", category: "scan",
		sid: 2010935, rev: 3, suriSeverity: 2, signature: "ET SCAN Suspicious inbound to MSSQL port 1433", suriCategory: "Potentially Bad Traffic",
		proto: "TCP", ports: []int{1433, 3306, 5432, 3389, 5900, 8080}, amName: "PortScan"},
	{rule: "c2-beacon", title: "Cobalt Strike beacon", severity: "critical", category: "c2",
		sid: 2027863, rev: 3, suriSeverity: 1, signature: "ET MALWARE Cobalt Strike Beacon Observed", suriCategory: "A Network Trojan was detected",
		proto: "TCP", appProto: "tls", ports: []int{443}, outbound: true, amName: "C2Beacon"},
	{rule: "smb-lateral", title: "SMB exploitation attempt", severity: "high", category: "lateral",
		sid: 2024218, rev: 4, suriSeverity: 1, signature: "ET EXPLOIT Possible ETERNALBLUE Probe MS17-010 (Generic Flags)", suriCategory: "Attempted Administrator Privilege Gain",
		proto: "TCP", appProto: "smb", ports: []int{445}, amName: "SMBExploit"},
	{rule: "ntp-amplification", title: "NTP amplification", severity: "high", category: "dos",
		sid: 2017919, rev: 2, suriSeverity: 2, signature: "ET DOS Possible NTP DDoS Inbound Frequent Un-Authed MON_LIST Requests IMPL 0x03", suriCategory: "Attempted Denial of Service",
		proto: "UDP", ports: []int{123}, amName: "NTPAmplification"},
	{rule: "dns-exfil", title: "DNS tunnelling", severity: "medium", category: "exfil",
		sid: 2018316, rev: 3, suriSeverity: 2, signature: "ET POLICY DNS Query to a Suspicious Long Subdomain", suriCategory: "Potentially Bad Traffic",
		proto: "UDP", appProto: "dns", ports: []int{53}, outbound: true, amName: "DNSTunnel"},
}

var attackerNets = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("198.18.0.0/16"),
}

var victimNets = []netip.Prefix{
	netip.MustParsePrefix("198.19.0.0/16"),
}

// nthAddr returns the n-th usable address (host part neither all zeros nor all ones
// in the last octet) across nets, then in 2001:db8:<tag>::/48.
func nthAddr(nets []netip.Prefix, tag uint16, n int) netip.Addr {
	for _, p := range nets {
		size := 1 << (32 - p.Bits())
		usable := size / 256 * 254
		if n < usable {
			off := n/254*256 + n%254 + 1
			b := p.Addr().As4()
			v := binary.BigEndian.Uint32(b[:]) + uint32(off)
			binary.BigEndian.PutUint32(b[:], v)
			return netip.AddrFrom4(b)
		}
		n -= usable
	}
	var b [16]byte
	copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, byte(tag >> 8), byte(tag)})
	binary.BigEndian.PutUint64(b[8:], uint64(n)+1)
	return netip.AddrFrom16(b)
}

// Attacker returns the address of incident k's attacker.
func Attacker(k int) netip.Addr { return nthAddr(attackerNets, 0xa, k) }

// Victim returns the address of incident k's j-th victim, with victims per incident.
func Victim(k, j, victims int) netip.Addr { return nthAddr(victimNets, 0xb, k*victims+j) }

// communityID computes the Community ID v1 flow hash (seed 0) of a 5-tuple.
func communityID(src, dst netip.Addr, proto string, sport, dport int) string {
	pn := byte(6)
	if proto == "UDP" {
		pn = 17
	}
	s, d := src.AsSlice(), dst.AsSlice()
	sp, dp := uint16(sport), uint16(dport)
	if c := src.Compare(dst); c > 0 || c == 0 && sp > dp {
		s, d, sp, dp = d, s, dp, sp
	}
	buf := make([]byte, 0, 2+len(s)+len(d)+6)
	buf = append(buf, 0, 0)
	buf = append(buf, s...)
	buf = append(buf, d...)
	buf = append(buf, pn, 0)
	buf = binary.BigEndian.AppendUint16(buf, sp)
	buf = binary.BigEndian.AppendUint16(buf, dp)
	sum := sha1.Sum(buf)
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// alertSpec is one alert of the scenario, before formatting.
type alertSpec struct {
	incident int
	p        *profile
	attacker netip.Addr
	victim   netip.Addr
	host     string
	sport    int
	dport    int
}

// src and dst orient the flow: inbound attacks come from the attacker, C2 and exfil go
// out to it.
func (a *alertSpec) src() netip.Addr {
	if a.p.outbound {
		return a.victim
	}
	return a.attacker
}

func (a *alertSpec) dst() netip.Addr {
	if a.p.outbound {
		return a.attacker
	}
	return a.victim
}

func spec(g, incidents, victims int) alertSpec {
	k := g % incidents
	j := (g / incidents) % victims
	p := &profiles[k%len(profiles)]
	return alertSpec{
		incident: k,
		p:        p,
		attacker: Attacker(k),
		victim:   Victim(k, j, victims),
		host:     fmt.Sprintf("srv-%05d-%d", k, j),
		sport:    1024 + (g*7919)%64000,
		dport:    p.ports[(g/incidents)%len(p.ports)],
	}
}

// buildPayloads makes the bodies of a run: enough of them that every (incident,
// victim) pair appears, and at least a handful.
func buildPayloads(cfg *Config, base time.Time, nonce int) *payloads {
	n := max(8, (cfg.Incidents*cfg.Victims+cfg.Batch-1)/cfg.Batch)
	p := &payloads{bodies: make([]template, n), base: base.UTC().Truncate(time.Second)}
	endsAt := base.UTC().Add(time.Hour).Format(time.RFC3339)
	var label string
	switch {
	case cfg.Target == TargetAlertmanager:
		p.contentType = "application/json"
	case cfg.Format == FormatSuricata:
		p.contentType = "application/x-ndjson"
	default:
		p.contentType = "application/json"
	}
	label = fmt.Sprintf("r%05d-%d-", nonce, base.Unix())
	flowPrefix := fmt.Sprintf("1%05d", nonce)
	for b := range n {
		w := &builder{b: make([]byte, 0, 512*cfg.Batch)}
		array := cfg.Target == TargetAlertmanager || cfg.Format == FormatGeneric && cfg.Batch > 1
		if array {
			w.raw("[")
		}
		for i := range cfg.Batch {
			w.item = i
			if i > 0 {
				if cfg.Target == TargetWarroom && cfg.Format == FormatSuricata {
					w.raw("\n")
				} else {
					w.raw(",")
				}
			}
			a := spec(b*cfg.Batch+i, cfg.Incidents, cfg.Victims)
			switch {
			case cfg.Target == TargetAlertmanager:
				writeAlertmanager(w, &a, label, endsAt)
			case cfg.Format == FormatSuricata:
				writeSuricata(w, &a, flowPrefix)
			default:
				writeGeneric(w, &a, label, cfg.Severity)
			}
		}
		if array {
			w.raw("]")
		}
		if cfg.Format == FormatSuricata && cfg.Target == TargetWarroom {
			w.raw("\n")
		}
		p.bodies[b] = template{b: w.b, slots: w.slots}
	}
	return p
}

func writeGeneric(w *builder, a *alertSpec, label, severity string) {
	if severity == "" {
		severity = a.p.severity
	}
	w.raw(`{"id":"`)
	w.raw(label)
	w.seqSlot()
	w.raw(`","rule":`)
	w.str(a.p.rule)
	w.raw(`,"title":`)
	w.str(a.p.title)
	w.raw(`,"severity":`)
	w.str(severity)
	w.raw(`,"category":`)
	w.str(a.p.category)
	w.raw(`,"event_time":"`)
	w.timeSlot()
	w.raw(`Z","entities":[{"kind":"ip","value":`)
	w.str(a.src().String())
	w.raw(`,"role":"src"},{"kind":"ip","value":`)
	w.str(a.dst().String())
	w.raw(`,"role":"dst"},{"kind":"host","value":`)
	w.str(a.host)
	w.raw(`,"role":"`)
	if a.p.outbound {
		w.raw("src")
	} else {
		w.raw("dst")
	}
	w.raw(`"}],"labels":{"sensor":"bench-ids-1","dest_port":`)
	w.str(strconv.Itoa(a.dport))
	w.raw(`}}`)
}

func writeSuricata(w *builder, a *alertSpec, flowPrefix string) {
	src, dst := a.src(), a.dst()
	sport, dport := a.sport, a.dport
	w.raw(`{"timestamp":"`)
	w.timeSlot()
	w.raw(`+0000","flow_id":`)
	w.raw(flowPrefix)
	w.seqSlot()
	w.raw(`,"in_iface":"eth1","event_type":"alert","src_ip":`)
	w.str(src.String())
	w.raw(`,"src_port":`)
	w.int(int64(sport))
	w.raw(`,"dest_ip":`)
	w.str(dst.String())
	w.raw(`,"dest_port":`)
	w.int(int64(dport))
	w.raw(`,"proto":`)
	w.str(a.p.proto)
	w.raw(`,"community_id":`)
	w.str(communityID(src, dst, a.p.proto, sport, dport))
	w.raw(`,"alert":{"action":"allowed","gid":1,"signature_id":`)
	w.int(int64(a.p.sid))
	w.raw(`,"rev":`)
	w.int(int64(a.p.rev))
	w.raw(`,"signature":`)
	w.str(a.p.signature)
	w.raw(`,"category":`)
	w.str(a.p.suriCategory)
	w.raw(`,"severity":`)
	w.int(int64(a.p.suriSeverity))
	w.raw(`},"flow":{"pkts_toserver":`)
	w.int(int64(3 + sport%40))
	w.raw(`,"pkts_toclient":`)
	w.int(int64(1 + sport%30))
	w.raw(`,"bytes_toserver":`)
	w.int(int64(180 + sport%9000))
	w.raw(`,"bytes_toclient":`)
	w.int(int64(60 + sport%7000))
	w.raw(`,"start":"`)
	w.timeSlot()
	w.raw(`+0000"}`)
	if a.p.appProto != "" {
		w.raw(`,"app_proto":`)
		w.str(a.p.appProto)
	}
	w.raw(`}`)
}

func writeAlertmanager(w *builder, a *alertSpec, label, endsAt string) {
	w.raw(`{"labels":{"alertname":`)
	w.str(a.p.amName)
	w.raw(`,"severity":`)
	w.str(a.p.severity)
	w.raw(`,"job":"ids","instance":`)
	w.str(netip.AddrPortFrom(a.victim, 9100).String())
	w.raw(`,"src_ip":`)
	w.str(a.src().String())
	w.raw(`,"dest_ip":`)
	w.str(a.dst().String())
	w.raw(`,"host":`)
	w.str(a.host)
	w.raw(`,"seq":"`)
	w.raw(label)
	w.seqSlot()
	w.raw(`"},"annotations":{"summary":`)
	w.str(a.p.title + " from " + a.src().String() + " to " + a.dst().String())
	w.raw(`},"startsAt":"`)
	w.timeSlot()
	w.raw(`Z","endsAt":`)
	w.str(endsAt)
	w.raw(`,"generatorURL":`)
	w.str("http://ids.example.org/rules/" + a.p.rule)
	w.raw(`}`)
}

// Bodies renders the request bodies of a run without sending them, for benchmarks of
// the server's own work (decoding, correlation, storage) that leave out HTTP.
type Bodies struct {
	p     *payloads
	batch int
}

// NewBodies builds the bodies warroom would be sent for cfg (Format, Batch, Incidents,
// Victims; the connection and timing fields are ignored). base is the event time of
// alert 0, nonce tells this run's alerts from other runs'.
func NewBodies(cfg Config, base time.Time, nonce int) (*Bodies, error) {
	cfg.Target = TargetWarroom
	if cfg.URL == "" {
		cfg.URL = "http://127.0.0.1:1"
	}
	if cfg.Token == "" {
		cfg.Token = "unused"
	}
	if cfg.Duration == 0 && cfg.Requests == 0 {
		cfg.Requests = 1
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	return &Bodies{p: buildPayloads(&cfg, base, nonce), batch: cfg.Batch}, nil
}

// ContentType is the Content-Type the bodies are sent with.
func (b *Bodies) ContentType() string { return b.p.contentType }

// Render writes the body of request req (its first alert has sequence number
// req×batch+offset) into dst, reusing it, and returns it.
func (b *Bodies) Render(dst []byte, req, offset int64) []byte {
	return b.p.render(dst, req, req*int64(b.batch)+offset)
}
