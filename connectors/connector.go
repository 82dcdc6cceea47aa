// Package connectors is warroom's containment layer: the Connector interface every
// firewall, EDR or outbound integration implements, the registry that builds connectors
// from configuration, and the safety machinery shared by all of them — error
// classification, the single retry stage, a circuit breaker per connector and the
// guardrails (never-block list, prefix breadth, mandatory TTL, rate limit).
//
// One sub-package per connector (edl, nftables, webhook) registers itself in init;
// connectortest holds shared fakes and a conformance suite.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// ActionKind names what an action does. Connectors declare the kinds they handle.
type ActionKind string

// The action kinds warroom knows.
const (
	BlockIP     ActionKind = "block_ip"
	UnblockIP   ActionKind = "unblock_ip"
	IsolateHost ActionKind = "isolate_host"
	ReleaseHost ActionKind = "release_host"
	Webhook     ActionKind = "webhook"
)

// Kinds lists every action kind, in a stable order.
func Kinds() []ActionKind {
	return []ActionKind{BlockIP, UnblockIP, IsolateHost, ReleaseHost, Webhook}
}

// Valid reports whether k is a known kind.
func (k ActionKind) Valid() bool {
	switch k {
	case BlockIP, UnblockIP, IsolateHost, ReleaseHost, Webhook:
		return true
	}
	return false
}

// Inverse returns the kind that undoes k (block_ip ↔ unblock_ip, isolate_host ↔
// release_host). Webhook has no inverse.
func (k ActionKind) Inverse() (ActionKind, bool) {
	switch k {
	case BlockIP:
		return UnblockIP, true
	case UnblockIP:
		return BlockIP, true
	case IsolateHost:
		return ReleaseHost, true
	case ReleaseHost:
		return IsolateHost, true
	}
	return "", false
}

// Containment reports whether k puts a restriction in place (block_ip, isolate_host):
// those are the kinds guardrails and the mandatory TTL apply to.
func (k ActionKind) Containment() bool { return k == BlockIP || k == IsolateHost }

// NeedsIP reports whether k targets an address or prefix.
func (k ActionKind) NeedsIP() bool { return k == BlockIP || k == UnblockIP }

// NeedsHost reports whether k targets a host.
func (k ActionKind) NeedsHost() bool { return k == IsolateHost || k == ReleaseHost }

// Target is what an action acts on: an address prefix for IP kinds, a host name (or
// address) for host kinds. A webhook may carry either or neither.
type Target struct {
	Prefix netip.Prefix // canonical: masked, IPv4 never 4-in-6
	Host   string
}

// IPTarget returns a target for prefix p, canonicalised (masked, 4-in-6 unmapped).
func IPTarget(p netip.Prefix) Target { return Target{Prefix: CanonicalPrefix(p)} }

// HostTarget returns a host target.
func HostTarget(h string) Target { return Target{Host: h} }

// ParseTarget reads an address ("203.0.113.7" → /32), a CIDR ("2001:db8::/64") or a
// host name. A CIDR with host bits set is refused rather than silently widened.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errors.New("target is empty; give an IP address, a CIDR or a host name")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Target{}, fmt.Errorf("target %q is not a valid CIDR: %w", s, err)
		}
		if m := p.Masked(); m != p {
			return Target{}, fmt.Errorf("target %q has host bits set; did you mean %s?", s, m)
		}
		return IPTarget(p), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return Target{}, fmt.Errorf("target %q carries a zone; give the address without %%zone", s)
		}
		return IPTarget(netip.PrefixFrom(a, a.BitLen())), nil
	}
	if !hostRE.MatchString(s) {
		return Target{}, fmt.Errorf("target %q is neither an IP address, a CIDR nor a valid host name", s)
	}
	return HostTarget(s), nil
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$`)

// CanonicalPrefix masks p and turns an IPv4-mapped IPv6 prefix into plain IPv4, so the
// same network always compares equal and guardrails see IPv4 as IPv4.
func CanonicalPrefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// IsIP reports whether the target is an address prefix.
func (t Target) IsIP() bool { return t.Prefix.IsValid() }

// IsZero reports whether the target is empty.
func (t Target) IsZero() bool { return !t.Prefix.IsValid() && t.Host == "" }

// String renders the prefix ("203.0.113.7/32") or the host.
func (t Target) String() string {
	if t.Prefix.IsValid() {
		return t.Prefix.String()
	}
	return t.Host
}

// Request is one call to a connector. The same request (same idempotency key) may
// arrive more than once; connectors must treat repeats as no-ops.
type Request struct {
	ActionID       string            // the action this call belongs to
	IdempotencyKey string            // stable across retries and repeated clicks
	Kind           ActionKind        // what to do
	Target         Target            // what to do it to
	TTL            time.Duration     // how long a containment stays in place (0: none)
	Params         map[string]string // kind-specific extras (incident id, playbook, note...)
}

// Validate checks the request is well formed for its kind. It does not apply policy;
// that is Guard's job.
func (r Request) Validate() error {
	if !r.Kind.Valid() {
		return fmt.Errorf("action kind %q is unknown; use one of %s", r.Kind, kindList())
	}
	if r.IdempotencyKey == "" {
		return errors.New("request has no idempotency key; every action call needs one")
	}
	if r.TTL < 0 {
		return fmt.Errorf("ttl %s is negative", r.TTL)
	}
	switch {
	case r.Kind.NeedsIP():
		if !r.Target.IsIP() {
			return fmt.Errorf("%s needs an IP address or CIDR target, got %q", r.Kind, r.Target)
		}
		if CanonicalPrefix(r.Target.Prefix) != r.Target.Prefix {
			return fmt.Errorf("target %s is not canonical (host bits set or IPv4-mapped); use %s", r.Target.Prefix, CanonicalPrefix(r.Target.Prefix))
		}
	case r.Kind.NeedsHost():
		if r.Target.Host == "" && !r.Target.IsIP() {
			return fmt.Errorf("%s needs a host target", r.Kind)
		}
	}
	return nil
}

func kindList() string {
	ks := Kinds()
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Result is what Execute or Revert did.
type Result struct {
	Changed   bool      // false when the state already matched (an idempotent repeat)
	DryRun    bool      // nothing was changed: the connector only recorded the intent
	Detail    string    // one line for humans, e.g. "added 203.0.113.7/32 to set warroom_block4"
	Reference string    // the connector-side identifier, if any (message id, rule handle)
	ExpiresAt time.Time // when the enforcement point itself lifts the change (zero: never)
}

// Verification is what Verify found.
type Verification struct {
	InPlace   bool      // the state the request asks for holds (blocked for block_ip, gone for unblock_ip)
	Observed  bool      // read back from the enforcement point, not from the connector's own record
	DryRun    bool      // the connector is in dry-run mode: InPlace reflects recorded intent only
	Detail    string    // one line for humans
	CheckedAt time.Time // when the check ran (connector clock)
	ExpiresAt time.Time // remaining lifetime as reported by the enforcement point, if known
}

// Diff is a dry-run preview: what Execute would change, one line per change, e.g.
// "add 203.0.113.7/32 to set warroom_block4, timeout 24h".
type Diff struct {
	Changes []string
}

// String joins the changes, one per line.
func (d Diff) String() string { return strings.Join(d.Changes, "\n") }

// Check is the outcome of one readiness probe.
type Check int8

// Readiness probe outcomes.
const (
	Unchecked Check = iota // the connector cannot tell (for example a signed webhook has no login)
	Passed
	Failed
)

// String renders "n/a", "yes" or "no" for the readiness table.
func (c Check) String() string {
	switch c {
	case Passed:
		return "yes"
	case Failed:
		return "no"
	}
	return "n/a"
}

// Readiness says whether a connector can act: whether its target answers, accepts the
// credentials and allows the changes warroom makes. `warroom check` prints it as a table.
type Readiness struct {
	Reachable     Check
	Authenticated Check
	Permitted     Check
	Message       string
}

// OK reports whether no probe failed.
func (r Readiness) OK() bool {
	return r.Reachable != Failed && r.Authenticated != Failed && r.Permitted != Failed
}

// Connector is one configured containment or feedback integration.
type Connector interface {
	// Name is the instance name from the configuration.
	Name() string
	// Capabilities lists the action kinds the connector executes.
	Capabilities() []ActionKind
	// Execute applies the request. Repeats of the same request are no-ops that report
	// Changed=false. Errors are classified with Temporary or Permanent.
	Execute(ctx context.Context, req Request) (Result, error)
	// Verify reports whether the change the request describes is really in place.
	Verify(ctx context.Context, req Request) (Verification, error)
	// Revert undoes what Execute(req) did. Reverting something absent is a no-op.
	Revert(ctx context.Context, req Request) (Result, error)
	// Preview describes what Execute(req) would change, without changing anything.
	Preview(ctx context.Context, req Request) (Diff, error)
	// Ready probes reachability, authentication and permission.
	Ready(ctx context.Context) Readiness
}

// ErrUnsupported is wrapped by connectors asked for a kind they do not handle.
var ErrUnsupported = errors.New("not supported by this connector")

// Supports reports whether c handles kind k.
func Supports(c Connector, k ActionKind) bool {
	for _, have := range c.Capabilities() {
		if have == k {
			return true
		}
	}
	return false
}

// CheckRequest validates req and checks c handles its kind. The error is permanent:
// retrying a malformed or unsupported request cannot succeed.
func CheckRequest(c Connector, req Request) error {
	if err := req.Validate(); err != nil {
		return Permanent(fmt.Errorf("connector %q: %w", c.Name(), err))
	}
	if !Supports(c, req.Kind) {
		return Permanent(fmt.Errorf("connector %q: %s: %w (it handles %s)", c.Name(), req.Kind, ErrUnsupported, joinKinds(c.Capabilities())))
	}
	return nil
}

func joinKinds(ks []ActionKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// FormatDuration renders d compactly for humans and diffs: 24h, 1h30m, 90s → 1m30s,
// 500ms.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.String()
	}
	var b strings.Builder
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
