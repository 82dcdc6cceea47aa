package connectors

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// GuardConfig configures the guardrails every action passes at proposal and again at
// execution. The zero value of a numeric field means its default.
type GuardConfig struct {
	// NeverBlock lists further addresses or CIDRs that must never be blocked.
	NeverBlock []string `yaml:"never_block"`
	// Gateways, Resolvers, Monitoring and Self (warroom's own addresses) are never
	// blocked either; they are listed apart so a refusal can say which one matched.
	Gateways   []string `yaml:"gateways"`
	Resolvers  []string `yaml:"resolvers"`
	Monitoring []string `yaml:"monitoring"`
	Self       []string `yaml:"self"`
	// ProtectedHosts lists host names that must never be isolated.
	ProtectedHosts []string `yaml:"protected_hosts"`
	// AllowInternal lifts the default refusal of RFC 1918 and ULA targets for every
	// action; a playbook can lift it for its own actions instead (Scope.AllowInternal).
	AllowInternal bool `yaml:"allow_internal"`
	// MaxBreadth is the broadest prefix an action may target (default /32 and /128).
	MaxBreadth Breadth `yaml:"max_breadth"`
	// TTL bounds the mandatory lifetime of a containment (default 1m to 720h).
	TTL TTLBounds `yaml:"ttl"`
	// RateLimit caps actions per connector (default 30 per minute, burst 30).
	RateLimit RateLimit `yaml:"rate_limit"`
}

// Breadth holds the shortest prefix length allowed per family.
type Breadth struct {
	IPv4 int `yaml:"ipv4"`
	IPv6 int `yaml:"ipv6"`
}

// TTLBounds bounds a containment's TTL.
type TTLBounds struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

// RateLimit is a token bucket: Actions per Per, up to Burst at once.
type RateLimit struct {
	Actions int           `yaml:"actions"`
	Per     time.Duration `yaml:"per"`
	Burst   int           `yaml:"burst"`
}

// DefaultGuardConfig returns the default guardrails.
func DefaultGuardConfig() GuardConfig {
	return GuardConfig{
		MaxBreadth: Breadth{IPv4: 32, IPv6: 128},
		TTL:        TTLBounds{Min: time.Minute, Max: 720 * time.Hour},
		RateLimit:  RateLimit{Actions: 30, Per: time.Minute, Burst: 30},
	}
}

func (c GuardConfig) withDefaults() GuardConfig {
	d := DefaultGuardConfig()
	if c.MaxBreadth.IPv4 == 0 {
		c.MaxBreadth.IPv4 = d.MaxBreadth.IPv4
	}
	if c.MaxBreadth.IPv6 == 0 {
		c.MaxBreadth.IPv6 = d.MaxBreadth.IPv6
	}
	if c.TTL.Min == 0 {
		c.TTL.Min = d.TTL.Min
	}
	if c.TTL.Max == 0 {
		c.TTL.Max = d.TTL.Max
	}
	if c.RateLimit.Actions == 0 {
		c.RateLimit.Actions = d.RateLimit.Actions
	}
	if c.RateLimit.Per == 0 {
		c.RateLimit.Per = d.RateLimit.Per
	}
	if c.RateLimit.Burst == 0 {
		c.RateLimit.Burst = c.RateLimit.Actions
	}
	return c
}

// NeverBlockEntry is one protected range and why it is protected.
type NeverBlockEntry struct {
	Prefix netip.Prefix
	Label  string // rfc1918, ula, loopback, gateway, resolver, configured...
	// Internal entries (RFC 1918, ULA) are lifted by AllowInternal.
	Internal bool
	// Exact entries match only the prefix itself (0.0.0.0/0 and ::/0 would otherwise
	// overlap everything).
	Exact bool
}

func defaultNeverBlock() []NeverBlockEntry {
	e := func(s, label string, internal, exact bool) NeverBlockEntry {
		return NeverBlockEntry{Prefix: netip.MustParsePrefix(s), Label: label, Internal: internal, Exact: exact}
	}
	return []NeverBlockEntry{
		e("0.0.0.0/0", "default route", false, true),
		e("::/0", "default route", false, true),
		e("0.0.0.0/8", "this network", false, false),
		e("::/128", "unspecified", false, false),
		e("10.0.0.0/8", "rfc1918", true, false),
		e("172.16.0.0/12", "rfc1918", true, false),
		e("192.168.0.0/16", "rfc1918", true, false),
		e("fc00::/7", "ula", true, false),
		e("127.0.0.0/8", "loopback", false, false),
		e("::1/128", "loopback", false, false),
		e("169.254.0.0/16", "link-local", false, false),
		e("fe80::/10", "link-local", false, false),
		e("224.0.0.0/4", "multicast", false, false),
		e("ff00::/8", "multicast", false, false),
		e("255.255.255.255/32", "broadcast", false, false),
	}
}

// Validate checks every list entry and bound, naming the offending key.
func (c GuardConfig) Validate() error {
	_, err := c.entries()
	if err != nil {
		return err
	}
	c = c.withDefaults()
	for i, h := range c.ProtectedHosts {
		if strings.TrimSpace(h) == "" {
			return fmt.Errorf("guardrails.protected_hosts[%d]: empty host name", i)
		}
	}
	switch {
	case c.MaxBreadth.IPv4 < 0 || c.MaxBreadth.IPv4 > 32:
		return fmt.Errorf("guardrails.max_breadth.ipv4: %d is not a prefix length between 1 and 32", c.MaxBreadth.IPv4)
	case c.MaxBreadth.IPv6 < 0 || c.MaxBreadth.IPv6 > 128:
		return fmt.Errorf("guardrails.max_breadth.ipv6: %d is not a prefix length between 1 and 128", c.MaxBreadth.IPv6)
	case c.TTL.Min < 0:
		return fmt.Errorf("guardrails.ttl.min: %s is negative", c.TTL.Min)
	case c.TTL.Max < c.TTL.Min:
		return fmt.Errorf("guardrails.ttl.max: %s is shorter than ttl.min %s", FormatDuration(c.TTL.Max), FormatDuration(c.TTL.Min))
	case c.RateLimit.Actions < 0:
		return fmt.Errorf("guardrails.rate_limit.actions: %d is negative", c.RateLimit.Actions)
	case c.RateLimit.Per < 0:
		return fmt.Errorf("guardrails.rate_limit.per: %s is negative", c.RateLimit.Per)
	case c.RateLimit.Burst < 0:
		return fmt.Errorf("guardrails.rate_limit.burst: %d is negative", c.RateLimit.Burst)
	}
	return nil
}

// entries returns the exact default-route entries, then the configured entries (they
// name the more specific reason), then the other defaults.
func (c GuardConfig) entries() ([]NeverBlockEntry, error) {
	defaults := defaultNeverBlock()
	var out, rest []NeverBlockEntry
	for _, e := range defaults {
		if e.Exact {
			out = append(out, e)
		} else {
			rest = append(rest, e)
		}
	}
	lists := []struct {
		key, label string
		vals       []string
	}{
		{"self", "self", c.Self},
		{"gateways", "gateway", c.Gateways},
		{"resolvers", "resolver", c.Resolvers},
		{"monitoring", "monitoring", c.Monitoring},
		{"never_block", "configured", c.NeverBlock},
	}
	for _, l := range lists {
		for i, s := range l.vals {
			p, err := parsePrefixOrAddr(s)
			if err != nil {
				return nil, fmt.Errorf("guardrails.%s[%d]: %w", l.key, i, err)
			}
			out = append(out, NeverBlockEntry{Prefix: p, Label: l.label})
		}
	}
	return append(out, rest...), nil
}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		return CanonicalPrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.WithZone("").Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ErrRefused is matched (errors.Is) by every guardrail refusal.
var ErrRefused = errors.New("refused by guardrail")

// Refusal is a guardrail's "no": which rule refused and why.
type Refusal struct {
	Rule       string        // never_block, protected_hosts, max_breadth, ttl, rate_limit
	Reason     string        // e.g. "10.0.0.1 is inside 10.0.0.0/8 (rfc1918)"
	RetryAfter time.Duration // for rate_limit: when a token is next available
}

// Error renders "refused by <rule>: <reason>".
func (r *Refusal) Error() string { return "refused by " + r.Rule + ": " + r.Reason }

// Is matches ErrRefused.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// Scope is the context of one check: the connector the action goes to, and whether
// the playbook allows internal (RFC 1918 / ULA) targets.
type Scope struct {
	Connector     string
	AllowInternal bool
}

// Guard applies the guardrails. It is safe for concurrent use.
type Guard struct {
	cfg     GuardConfig
	entries []NeverBlockEntry
	hosts   map[string]bool
	clock   clock.Clock

	mu      sync.Mutex
	buckets map[string]*bucket
}

// NewGuard validates cfg and returns a guard on clock clk.
func NewGuard(cfg GuardConfig, clk clock.Clock) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	entries, _ := cfg.entries()
	if clk == nil {
		clk = clock.Real{}
	}
	g := &Guard{cfg: cfg, entries: entries, hosts: map[string]bool{}, clock: clk, buckets: map[string]*bucket{}}
	for _, h := range cfg.ProtectedHosts {
		g.hosts[normHost(h)] = true
	}
	return g, nil
}

// NeverBlock lists the protected ranges in the order they are checked.
func (g *Guard) NeverBlock() []NeverBlockEntry { return append([]NeverBlockEntry(nil), g.entries...) }

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".") }

// Check applies the target and TTL rules to req without consuming a rate-limit token;
// call it when an action is proposed or previewed. Removals (unblock_ip,
// release_host) always pass: taking a block away is never dangerous.
func (g *Guard) Check(req Request, scope Scope) error {
	if err := req.Validate(); err != nil {
		return Permanent(err)
	}
	if !req.Kind.Containment() && req.Kind != Webhook {
		return nil
	}
	t := req.Target
	if !t.IsIP() && t.Host != "" {
		if p, err := parsePrefixOrAddr(t.Host); err == nil {
			t = Target{Prefix: p}
		}
	}
	switch {
	case t.IsIP():
		if err := g.checkPrefix(t.Prefix, scope); err != nil {
			return err
		}
	case t.Host != "":
		if g.hosts[normHost(t.Host)] {
			return &Refusal{Rule: "protected_hosts", Reason: fmt.Sprintf("%s is a protected host", t.Host)}
		}
	}
	if req.Kind.Containment() {
		return g.checkTTL(req)
	}
	return nil
}

func (g *Guard) checkPrefix(p netip.Prefix, scope Scope) error {
	p = CanonicalPrefix(p)
	for _, e := range g.entries {
		if e.Internal && (scope.AllowInternal || g.cfg.AllowInternal) {
			continue
		}
		if e.Exact {
			if p == e.Prefix {
				return &Refusal{Rule: "never_block", Reason: fmt.Sprintf("%s matches %s (%s)", p, e.Prefix, e.Label)}
			}
			continue
		}
		if !e.Prefix.Overlaps(p) {
			continue
		}
		if e.Prefix.Bits() <= p.Bits() {
			return &Refusal{Rule: "never_block", Reason: fmt.Sprintf("%s is inside %s (%s)", showPrefix(p), e.Prefix, e.Label)}
		}
		return &Refusal{Rule: "never_block", Reason: fmt.Sprintf("%s covers %s (%s)", p, showPrefix(e.Prefix), e.Label)}
	}
	limit, fam := g.cfg.MaxBreadth.IPv4, "IPv4"
	if p.Addr().Is6() {
		limit, fam = g.cfg.MaxBreadth.IPv6, "IPv6"
	}
	if p.Bits() < limit {
		return &Refusal{Rule: "max_breadth", Reason: fmt.Sprintf("%s is broader than /%d, the broadest %s prefix allowed", p, limit, fam)}
	}
	return nil
}

// showPrefix renders a single address without its /32 or /128.
func showPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func (g *Guard) checkTTL(req Request) error {
	b := g.cfg.TTL
	switch {
	case req.TTL == 0:
		return &Refusal{Rule: "ttl", Reason: fmt.Sprintf("%s needs a ttl between %s and %s so it rolls back on its own", req.Kind, FormatDuration(b.Min), FormatDuration(b.Max))}
	case req.TTL < b.Min:
		return &Refusal{Rule: "ttl", Reason: fmt.Sprintf("ttl %s is shorter than the minimum %s", FormatDuration(req.TTL), FormatDuration(b.Min))}
	case req.TTL > b.Max:
		return &Refusal{Rule: "ttl", Reason: fmt.Sprintf("ttl %s is longer than the maximum %s", FormatDuration(req.TTL), FormatDuration(b.Max))}
	}
	return nil
}

// Admit is Check plus the per-connector rate limit, which consumes a token: call it
// right before executing. Removals pass and consume nothing.
func (g *Guard) Admit(req Request, scope Scope) error {
	if err := g.Check(req, scope); err != nil {
		return err
	}
	if !req.Kind.Containment() && req.Kind != Webhook {
		return nil
	}
	rl := g.cfg.RateLimit
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.buckets[scope.Connector]
	if !ok {
		b = newBucket(rl, g.clock.Now())
		g.buckets[scope.Connector] = b
	}
	if wait, ok := b.take(g.clock.Now()); !ok {
		return &Refusal{
			Rule:       "rate_limit",
			Reason:     fmt.Sprintf("connector %q allows %d actions per %s (burst %d); next in %s", scope.Connector, rl.Actions, FormatDuration(rl.Per), rl.Burst, FormatDuration(ceilSecond(wait))),
			RetryAfter: wait,
		}
	}
	return nil
}

// bucket is a token bucket refilled continuously from the clock.
type bucket struct {
	tokens float64
	burst  float64
	rate   float64 // tokens per nanosecond
	last   time.Time
}

func newBucket(rl RateLimit, now time.Time) *bucket {
	return &bucket{tokens: float64(rl.Burst), burst: float64(rl.Burst), rate: float64(rl.Actions) / float64(rl.Per), last: now}
}

func (b *bucket) take(now time.Time) (time.Duration, bool) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+float64(el)*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration(math.Ceil((1 - b.tokens) / b.rate)), false
}

func ceilSecond(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		return d - r + time.Second
	}
	return d
}
