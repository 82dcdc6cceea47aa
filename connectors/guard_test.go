package connectors

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

func ipReq(kind ActionKind, cidr string, ttl time.Duration) Request {
	t, err := ParseTarget(cidr)
	if err != nil {
		panic(err)
	}
	return Request{ActionID: "a1", IdempotencyKey: "k1", Kind: kind, Target: t, TTL: ttl}
}

func TestGuardCheck(t *testing.T) {
	cfg := GuardConfig{
		Gateways:       []string{"203.0.113.1"},
		Resolvers:      []string{"198.51.100.53", "2001:db8:53::53"},
		Monitoring:     []string{"192.0.2.0/28"},
		Self:           []string{"198.51.100.10"},
		NeverBlock:     []string{"100.64.0.0/10"},
		ProtectedHosts: []string{"DC01.corp.example."},
	}
	day := 24 * time.Hour
	tests := []struct {
		name  string
		req   Request
		scope Scope
		err   string
	}{
		{name: "public /32 passes", req: ipReq(BlockIP, "203.0.113.7", day)},
		{name: "public /128 passes", req: ipReq(BlockIP, "2001:db8:dead::7", day)},
		{name: "rfc1918", req: ipReq(BlockIP, "10.0.0.1", day), err: "refused by never_block: 10.0.0.1 is inside 10.0.0.0/8 (rfc1918)"},
		{name: "rfc1918 172", req: ipReq(BlockIP, "172.20.1.1", day), err: "refused by never_block: 172.20.1.1 is inside 172.16.0.0/12 (rfc1918)"},
		{name: "rfc1918 allowed by playbook", req: ipReq(BlockIP, "192.168.1.20", day), scope: Scope{AllowInternal: true}},
		{name: "ula", req: ipReq(BlockIP, "fd00::1", day), err: "refused by never_block: fd00::1 is inside fc00::/7 (ula)"},
		{name: "ula allowed", req: ipReq(BlockIP, "fd00::1", day), scope: Scope{AllowInternal: true}},
		{name: "loopback even when internal allowed", req: ipReq(BlockIP, "127.0.0.1", day), scope: Scope{AllowInternal: true}, err: "refused by never_block: 127.0.0.1 is inside 127.0.0.0/8 (loopback)"},
		{name: "v6 loopback", req: ipReq(BlockIP, "::1", day), err: "refused by never_block: ::1 is inside ::1/128 (loopback)"},
		{name: "4in6 is seen as v4", req: ipReq(BlockIP, "::ffff:10.1.2.3", day), err: "refused by never_block: 10.1.2.3 is inside 10.0.0.0/8 (rfc1918)"},
		{name: "link-local", req: ipReq(BlockIP, "169.254.169.254", day), err: "refused by never_block: 169.254.169.254 is inside 169.254.0.0/16 (link-local)"},
		{name: "v6 link-local", req: ipReq(BlockIP, "fe80::1", day), err: "refused by never_block: fe80::1 is inside fe80::/10 (link-local)"},
		{name: "multicast", req: ipReq(BlockIP, "239.1.1.1", day), err: "refused by never_block: 239.1.1.1 is inside 224.0.0.0/4 (multicast)"},
		{name: "v6 multicast", req: ipReq(BlockIP, "ff02::1", day), err: "refused by never_block: ff02::1 is inside ff00::/8 (multicast)"},
		{name: "default route v4", req: ipReq(BlockIP, "0.0.0.0/0", day), err: "refused by never_block: 0.0.0.0/0 matches 0.0.0.0/0 (default route)"},
		{name: "default route v6", req: ipReq(BlockIP, "::/0", day), err: "refused by never_block: ::/0 matches ::/0 (default route)"},
		{name: "gateway", req: ipReq(BlockIP, "203.0.113.1", day), err: "refused by never_block: 203.0.113.1 is inside 203.0.113.1/32 (gateway)"},
		{name: "resolver v6", req: ipReq(BlockIP, "2001:db8:53::53", day), err: "refused by never_block: 2001:db8:53::53 is inside 2001:db8:53::53/128 (resolver)"},
		{name: "monitoring range", req: ipReq(BlockIP, "192.0.2.5", day), err: "refused by never_block: 192.0.2.5 is inside 192.0.2.0/28 (monitoring)"},
		{name: "self", req: ipReq(BlockIP, "198.51.100.10", day), err: "refused by never_block: 198.51.100.10 is inside 198.51.100.10/32 (self)"},
		{name: "configured", req: ipReq(BlockIP, "100.64.1.1", day), err: "refused by never_block: 100.64.1.1 is inside 100.64.0.0/10 (configured)"},
		{name: "gateway beats rfc1918 wording", req: ipReq(BlockIP, "203.0.113.1", day), scope: Scope{AllowInternal: true}, err: "refused by never_block: 203.0.113.1 is inside 203.0.113.1/32 (gateway)"},
		{name: "wide prefix covering a resolver", req: ipReq(BlockIP, "198.51.100.0/24", day), err: "refused by never_block: 198.51.100.0/24 covers 198.51.100.10 (self)"},
		{name: "breadth v4", req: ipReq(BlockIP, "203.0.113.128/25", day), err: "refused by max_breadth: 203.0.113.128/25 is broader than /32, the broadest IPv4 prefix allowed"},
		{name: "breadth v6", req: ipReq(BlockIP, "2001:db8:beef::/64", day), err: "refused by max_breadth: 2001:db8:beef::/64 is broader than /128, the broadest IPv6 prefix allowed"},
		{name: "ttl missing", req: ipReq(BlockIP, "203.0.113.7", 0), err: "refused by ttl: block_ip needs a ttl between 1m and 720h so it rolls back on its own"},
		{name: "ttl too short", req: ipReq(BlockIP, "203.0.113.7", 30*time.Second), err: "refused by ttl: ttl 30s is shorter than the minimum 1m"},
		{name: "ttl too long", req: ipReq(BlockIP, "203.0.113.7", 1000*time.Hour), err: "refused by ttl: ttl 1000h is longer than the maximum 720h"},
		{name: "unblock internal is fine", req: ipReq(UnblockIP, "10.0.0.1", 0)},
		{name: "unblock wide is fine", req: ipReq(UnblockIP, "0.0.0.0/0", 0)},
		{name: "protected host", req: Request{IdempotencyKey: "k", Kind: IsolateHost, Target: HostTarget("dc01.CORP.example"), TTL: day}, err: "refused by protected_hosts: dc01.CORP.example is a protected host"},
		{name: "isolate ordinary host", req: Request{IdempotencyKey: "k", Kind: IsolateHost, Target: HostTarget("ws-42.corp.example"), TTL: day}},
		{name: "isolate host needs ttl", req: Request{IdempotencyKey: "k", Kind: IsolateHost, Target: HostTarget("ws-42"), TTL: 0}, err: "refused by ttl: isolate_host needs a ttl between 1m and 720h so it rolls back on its own"},
		{name: "isolate by address", req: Request{IdempotencyKey: "k", Kind: IsolateHost, Target: HostTarget("10.9.9.9"), TTL: day}, err: "refused by never_block: 10.9.9.9 is inside 10.0.0.0/8 (rfc1918)"},
		{name: "webhook with ip target", req: ipReq(Webhook, "10.0.0.1", 0), err: "refused by never_block: 10.0.0.1 is inside 10.0.0.0/8 (rfc1918)"},
		{name: "webhook needs no ttl", req: Request{IdempotencyKey: "k", Kind: Webhook}},
		{name: "malformed", req: Request{Kind: BlockIP}, err: "request has no idempotency key; every action call needs one"},
	}
	g, err := NewGuard(cfg, clock.NewFake(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.Check(tt.req, tt.scope)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Check = %v, want pass", err)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Fatalf("Check = %v, want %q", err, tt.err)
			}
			if Retryable(err) {
				t.Error("a refusal must not be retryable")
			}
		})
	}
}

func TestGuardConfigurable(t *testing.T) {
	g, err := NewGuard(GuardConfig{AllowInternal: true, MaxBreadth: Breadth{IPv4: 24, IPv6: 48}, TTL: TTLBounds{Min: time.Hour, Max: 2 * time.Hour}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		req Request
		err string
	}{
		{ipReq(BlockIP, "10.1.2.0/24", time.Hour), ""},
		{ipReq(BlockIP, "10.1.0.0/23", time.Hour), "refused by max_breadth: 10.1.0.0/23 is broader than /24, the broadest IPv4 prefix allowed"},
		{ipReq(BlockIP, "2001:db8:1::/48", time.Hour), ""},
		{ipReq(BlockIP, "203.0.113.7", 3*time.Hour), "refused by ttl: ttl 3h is longer than the maximum 2h"},
	} {
		err := g.Check(tt.req, Scope{})
		if (tt.err == "" && err != nil) || (tt.err != "" && (err == nil || err.Error() != tt.err)) {
			t.Errorf("Check(%s) = %v, want %q", tt.req.Target, err, tt.err)
		}
	}
}

func TestGuardRateLimit(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	g, err := NewGuard(GuardConfig{RateLimit: RateLimit{Actions: 6, Per: time.Minute, Burst: 2}}, clk)
	if err != nil {
		t.Fatal(err)
	}
	block := ipReq(BlockIP, "203.0.113.7", time.Hour)
	steps := []struct {
		advance   time.Duration
		req       Request
		connector string
		err       string
	}{
		{req: block, connector: "edge"},
		{req: block, connector: "edge"},
		{req: block, connector: "edge", err: `refused by rate_limit: connector "edge" allows 6 actions per 1m (burst 2); next in 10s`},
		{req: block, connector: "core"},                              // a separate bucket per connector
		{req: ipReq(UnblockIP, "203.0.113.7", 0), connector: "edge"}, // removals are never limited
		{advance: 4 * time.Second, req: block, connector: "edge", err: `refused by rate_limit: connector "edge" allows 6 actions per 1m (burst 2); next in 6s`},
		{advance: 6 * time.Second, req: block, connector: "edge"},
		{req: ipReq(BlockIP, "10.0.0.1", time.Hour), connector: "core", err: "refused by never_block: 10.0.0.1 is inside 10.0.0.0/8 (rfc1918)"},
		{req: block, connector: "core"}, // the refusal above consumed no token
		{advance: time.Hour, req: block, connector: "edge"},
		{req: block, connector: "edge"},
		{req: block, connector: "edge", err: `refused by rate_limit: connector "edge" allows 6 actions per 1m (burst 2); next in 10s`},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		err := g.Admit(s.req, Scope{Connector: s.connector})
		if (s.err == "" && err != nil) || (s.err != "" && (err == nil || err.Error() != s.err)) {
			t.Fatalf("step %d: Admit = %v, want %q", i, err, s.err)
		}
		var r *Refusal
		if s.err != "" && errors.As(err, &r) && r.Rule == "rate_limit" && r.RetryAfter <= 0 {
			t.Errorf("step %d: rate-limit refusal without RetryAfter", i)
		}
		if s.err != "" && !errors.Is(err, ErrRefused) {
			t.Errorf("step %d: refusal does not match ErrRefused", i)
		}
	}
}

func TestGuardConfigValidate(t *testing.T) {
	tests := []struct {
		cfg GuardConfig
		err string
	}{
		{GuardConfig{}, ""},
		{GuardConfig{Gateways: []string{"203.0.113.1", "gw.example"}}, `guardrails.gateways[1]: "gw.example" is not an IP address or CIDR`},
		{GuardConfig{NeverBlock: []string{"10.0.0.0/40"}}, `guardrails.never_block[0]: "10.0.0.0/40" is not an IP address or CIDR`},
		{GuardConfig{ProtectedHosts: []string{" "}}, "guardrails.protected_hosts[0]: empty host name"},
		{GuardConfig{MaxBreadth: Breadth{IPv4: 33}}, "guardrails.max_breadth.ipv4: 33 is not a prefix length between 1 and 32"},
		{GuardConfig{MaxBreadth: Breadth{IPv6: 129}}, "guardrails.max_breadth.ipv6: 129 is not a prefix length between 1 and 128"},
		{GuardConfig{TTL: TTLBounds{Min: 2 * time.Hour, Max: time.Hour}}, "guardrails.ttl.max: 1h is shorter than ttl.min 2h"},
		{GuardConfig{RateLimit: RateLimit{Actions: -1}}, "guardrails.rate_limit.actions: -1 is negative"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.err == "" && err != nil) || (tt.err != "" && (err == nil || err.Error() != tt.err)) {
			t.Errorf("Validate = %v, want %q", err, tt.err)
		}
	}
	g, _ := NewGuard(GuardConfig{Self: []string{"198.51.100.10"}}, nil)
	if first := g.NeverBlock()[2]; first.Prefix != netip.MustParsePrefix("198.51.100.10/32") || first.Label != "self" {
		t.Errorf("configured entries must follow the two default routes, got %+v", first)
	}
}

func TestSimulation(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewSimulation(clk)
	block := ipReq(BlockIP, "203.0.113.7", time.Hour)
	diff := Diff{Changes: []string{"add 203.0.113.7/32 to set warroom_block4, timeout 1h"}}
	r := s.Execute(block, diff)
	if !r.Changed || !r.DryRun || r.Detail != "dry run: would add 203.0.113.7/32 to set warroom_block4, timeout 1h" {
		t.Fatalf("Execute = %+v", r)
	}
	if r := s.Execute(block, diff); r.Changed {
		t.Error("repeat reported a change")
	}
	if v := s.Verify(block); !v.InPlace || !v.DryRun || v.Observed {
		t.Errorf("Verify = %+v", v)
	}
	unblock := ipReq(UnblockIP, "203.0.113.7", 0)
	if v := s.Verify(unblock); v.InPlace {
		t.Error("unblock verified while the block is recorded")
	}
	clk.Advance(time.Hour)
	if v := s.Verify(block); v.InPlace {
		t.Error("simulated entry outlived its ttl")
	}
	s.Execute(block, diff)
	if r := s.Revert(block, Diff{}); !r.Changed {
		t.Error("revert reported no change")
	}
	if v := s.Verify(unblock); !v.InPlace {
		t.Error("unblock not in place after revert")
	}
	if n := len(s.Records()); n != 4 {
		t.Errorf("%d records, want 4", n)
	}
}
