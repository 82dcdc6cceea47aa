// Package drill runs gap drills: synthetic incidents pushed through the same path as
// real ones — ingest decoders, correlation, the chat rooms, the playbooks and the
// response engine (whose actions run in dry-run for drills) — to measure how long the
// people and the tooling take to acknowledge, contain and resolve.
//
// It holds the built-in scenarios (one per built-in playbook, with randomized
// documentation-range addresses so a drill never names a real host), user scenarios in
// YAML, the runner that injects a scenario's alerts tagged with the run id, the cron
// scheduler (robfig/cron) with missed-drill detection, the measures computed from the
// stored timestamps of the incident, its actions and its timeline, and the reports
// (text, JSON, CSV and a PNG chart) over drills and real incidents alike.
package drill

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Step is one delivery of a scenario: a body in an ingest format, sent At after the
// run starts. The body may hold placeholders (see Expand).
type Step struct {
	At     time.Duration
	Format string
	Body   string
}

// Scenario is a synthetic incident: a timed sequence of alert deliveries.
type Scenario struct {
	Name        string
	Title       string
	Description string
	// Playbook is the playbook the scenario exercises (informative).
	Playbook string
	// Timeout is how long a run may take before it is recorded as timed out; zero
	// takes the configured default.
	Timeout time.Duration
	Steps   []Step
	// Builtin is true for the scenarios shipped with warroom; File names a user
	// scenario's file.
	Builtin bool
	File    string
}

// Duration is how long the scenario takes to deliver its alerts.
func (s *Scenario) Duration() time.Duration {
	var d time.Duration
	for _, st := range s.Steps {
		d = max(d, st.At)
	}
	return d
}

// Vars are a run's placeholder values: each name gets one random value for the whole
// run, so the alerts of a run agree on who attacked whom.
type Vars struct {
	run  string
	rng  *rand.Rand
	vals map[string]string
	used map[string]bool
}

// NewVars returns the placeholder values of run id, drawn from rng.
func NewVars(run string, rng *rand.Rand) *Vars {
	return &Vars{run: run, rng: rng, vals: map[string]string{}, used: map[string]bool{}}
}

// The documentation ranges drills draw addresses from: RFC 5737 for IPv4, RFC 3849
// for IPv6. No real host has them.
var (
	docNets4 = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24")}
	docNet6 = netip.MustParsePrefix("2001:db8::/32")
)

// IsDocumentation reports whether a is in a documentation range (RFC 5737, RFC 3849).
func IsDocumentation(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range docNets4 {
		if p.Contains(a) {
			return true
		}
	}
	return docNet6.Contains(a)
}

func (v *Vars) fresh(kind, name string, gen func() string) string {
	key := kind + ":" + name
	if s, ok := v.vals[key]; ok {
		return s
	}
	for range 1000 {
		s := gen()
		if !v.used[s] {
			v.used[s] = true
			v.vals[key] = s
			return s
		}
	}
	panic("drill: placeholder values exhausted")
}

func (v *Vars) ip4() string {
	p := docNets4[v.rng.IntN(len(docNets4))]
	b := p.Addr().As4()
	b[3] = byte(2 + v.rng.IntN(252)) // not .0, .1 or .255
	return netip.AddrFrom4(b).String()
}

func (v *Vars) ip6() string {
	b := docNet6.Addr().As16()
	for i := 4; i < 16; i++ {
		b[i] = byte(v.rng.IntN(256))
	}
	return netip.AddrFrom16(b).String()
}

// placeholder kinds, documented in Expand.
var placeholderKinds = map[string]bool{"ip4": true, "ip6": true, "host": true, "device": true, "domain": true,
	"user": true, "hex": true, "time": false, "unix": false, "run": false, "n": false}

// Expand replaces the placeholders of body for step n at event time t:
//
//	${ip4:NAME}    an RFC 5737 address (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24)
//	${ip6:NAME}    an RFC 3849 address (2001:db8::/32)
//	${host:NAME}   a host name under drill.example
//	${device:NAME} a network device name
//	${domain:NAME} a domain under drill.example
//	${user:NAME}   a user name
//	${hex:NAME}    16 random hex digits
//	${time}        the step's event time, RFC 3339 with nanoseconds
//	${unix}        the step's event time in unix seconds
//	${run}         the run id
//	${n}           the step's index, from 0
//
// The same NAME gets the same value throughout a run; different names get different
// values. Unknown placeholders are an error.
func (v *Vars) Expand(body string, n int, t time.Time) (string, error) {
	var b strings.Builder
	rest := body
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("placeholder at byte %d is not closed with }", len(body)-len(rest)+i)
		}
		ph := rest[i+2 : i+j]
		rest = rest[i+j+1:]
		val, err := v.value(ph, n, t)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
	}
}

func (v *Vars) value(ph string, n int, t time.Time) (string, error) {
	kind, name, named := strings.Cut(ph, ":")
	wantName, known := placeholderKinds[kind]
	if !known {
		return "", fmt.Errorf("placeholder ${%s}: unknown kind %q; use one of %s", ph, kind, strings.Join(PlaceholderKinds(), ", "))
	}
	if wantName != named || named && !validName(name) {
		if wantName {
			return "", fmt.Errorf("placeholder ${%s}: write it as ${%s:NAME} with NAME made of letters, digits, - and _", ph, kind)
		}
		return "", fmt.Errorf("placeholder ${%s}: ${%s} takes no name", ph, kind)
	}
	switch kind {
	case "time":
		return t.UTC().Format(time.RFC3339Nano), nil
	case "unix":
		return strconv.FormatInt(t.Unix(), 10), nil
	case "run":
		return v.run, nil
	case "n":
		return strconv.Itoa(n), nil
	case "ip4":
		return v.fresh(kind, name, v.ip4), nil
	case "ip6":
		return v.fresh(kind, name, v.ip6), nil
	case "host":
		return v.fresh(kind, name, func() string { return fmt.Sprintf("%s-%02d.drill.example", slug(name), v.rng.IntN(100)) }), nil
	case "device":
		return v.fresh(kind, name, func() string { return fmt.Sprintf("%s-%02d", slug(name), v.rng.IntN(100)) }), nil
	case "domain":
		return v.fresh(kind, name, func() string { return fmt.Sprintf("%s%03d.drill.example", slug(name), v.rng.IntN(1000)) }), nil
	case "user":
		return v.fresh(kind, name, func() string { return fmt.Sprintf("%s%02d", slug(name), v.rng.IntN(100)) }), nil
	default: // hex
		return v.fresh(kind, name, func() string { return fmt.Sprintf("%016x", v.rng.Uint64()) }), nil
	}
}

// PlaceholderKinds lists the placeholder kinds, sorted.
func PlaceholderKinds() []string {
	out := make([]string, 0, len(placeholderKinds))
	for k := range placeholderKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func validName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func slug(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, "_", "-"))
	return s
}

// checkPlaceholders reports the first bad placeholder of body, without drawing values.
func checkPlaceholders(body string) error {
	v := NewVars("check", rand.New(rand.NewPCG(1, 2)))
	_, err := v.Expand(body, 0, time.Unix(0, 0))
	return err
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)) }
