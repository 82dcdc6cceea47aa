package connectors

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, want, err string
		ip            bool
	}{
		{in: "203.0.113.7", want: "203.0.113.7/32", ip: true},
		{in: " 2001:db8::1 ", want: "2001:db8::1/128", ip: true},
		{in: "198.51.100.0/24", want: "198.51.100.0/24", ip: true},
		{in: "::ffff:203.0.113.7", want: "203.0.113.7/32", ip: true},
		{in: "::ffff:203.0.113.0/120", want: "203.0.113.0/24", ip: true},
		{in: "web-01.corp.example", want: "web-01.corp.example"},
		{in: "198.51.100.7/24", err: `target "198.51.100.7/24" has host bits set; did you mean 198.51.100.0/24?`},
		{in: "", err: "target is empty; give an IP address, a CIDR or a host name"},
		{in: "fe80::1%eth0", err: `target "fe80::1%eth0" carries a zone; give the address without %zone`},
		{in: "not a host!", err: `target "not a host!" is neither an IP address, a CIDR nor a valid host name`},
		{in: "10.0.0.0/33", err: `target "10.0.0.0/33" is not a valid CIDR: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("ParseTarget(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want || got.IsIP() != tt.ip {
				t.Errorf("ParseTarget(%q) = %v (ip %v), want %s (ip %v)", tt.in, got, got.IsIP(), tt.want, tt.ip)
			}
		})
	}
}

func TestRequestValidate(t *testing.T) {
	ip := IPTarget(netip.MustParsePrefix("203.0.113.7/32"))
	tests := []struct {
		name string
		req  Request
		err  string
	}{
		{"block ok", Request{IdempotencyKey: "k", Kind: BlockIP, Target: ip, TTL: time.Hour}, ""},
		{"isolate host", Request{IdempotencyKey: "k", Kind: IsolateHost, Target: HostTarget("ws-7")}, ""},
		{"webhook without target", Request{IdempotencyKey: "k", Kind: Webhook}, ""},
		{"unknown kind", Request{IdempotencyKey: "k", Kind: "nuke"}, `action kind "nuke" is unknown; use one of block_ip, unblock_ip, isolate_host, release_host, webhook`},
		{"no key", Request{Kind: BlockIP, Target: ip}, "request has no idempotency key; every action call needs one"},
		{"negative ttl", Request{IdempotencyKey: "k", Kind: BlockIP, Target: ip, TTL: -time.Second}, "ttl -1s is negative"},
		{"block host", Request{IdempotencyKey: "k", Kind: BlockIP, Target: HostTarget("ws-7")}, `block_ip needs an IP address or CIDR target, got "ws-7"`},
		{"not canonical", Request{IdempotencyKey: "k", Kind: UnblockIP, Target: Target{Prefix: netip.MustParsePrefix("203.0.113.7/24")}}, "target 203.0.113.7/24 is not canonical (host bits set or IPv4-mapped); use 203.0.113.0/24"},
		{"isolate nothing", Request{IdempotencyKey: "k", Kind: IsolateHost}, "isolate_host needs a host target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) {
				t.Fatalf("Validate() = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestKindInverse(t *testing.T) {
	for _, k := range Kinds() {
		inv, ok := k.Inverse()
		if k == Webhook {
			if ok {
				t.Errorf("webhook has inverse %s", inv)
			}
			continue
		}
		if back, _ := inv.Inverse(); !ok || back != k {
			t.Errorf("%s inverse %s does not invert back (%s)", k, inv, back)
		}
	}
}

func TestClassification(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		retryable bool
		after     time.Duration
	}{
		{"unclassified", base, false, 0},
		{"temporary", Temporary(base), true, 0},
		{"permanent", Permanent(base), false, 0},
		{"temporary after", TemporaryAfter(base, 3*time.Second), true, 3 * time.Second},
		{"wrapped temporary", fmt.Errorf("call: %w", Temporary(base)), true, 0},
		{"outermost wins", Permanent(Temporary(base)), false, 0},
		{"nil", nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
			after, _ := RetryAfter(tt.err)
			if after != tt.after {
				t.Errorf("RetryAfter = %v, want %v", after, tt.after)
			}
			if tt.err != nil && !errors.Is(tt.err, base) {
				t.Errorf("classification hides the cause from errors.Is")
			}
		})
	}
	if Temporary(nil) != nil || Permanent(nil) != nil || TemporaryAfter(nil, time.Second) != nil {
		t.Error("classifying nil must stay nil")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:                    "24h",
		90 * time.Minute:                  "1h30m",
		90 * time.Second:                  "1m30s",
		500 * time.Millisecond:            "500ms",
		0:                                 "0s",
		720*time.Hour + 5*time.Second:     "720h5s",
		time.Hour + 1500*time.Millisecond: "1h1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestReadiness(t *testing.T) {
	if !(Readiness{Reachable: Passed, Authenticated: Unchecked, Permitted: Passed}).OK() {
		t.Error("unchecked probes must not fail readiness")
	}
	if (Readiness{Reachable: Passed, Permitted: Failed}).OK() {
		t.Error("a failed probe must fail readiness")
	}
	if got := strings.Join([]string{Passed.String(), Failed.String(), Unchecked.String()}, ","); got != "yes,no,n/a" {
		t.Errorf("Check strings = %s", got)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2-very-secret")
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s),
		fmt.Sprintf("%v", struct{ S Secret }{s}), fmt.Sprintf("%+v", &struct{ S Secret }{s}),
		fmt.Sprintf("%+v %#v", struct{ s Secret }{s}, struct{ s Secret }{s}),
		s.LogValue().String(),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if b, _ := s.MarshalText(); strings.Contains(string(b), "hunter2") {
		t.Error("MarshalText leaked the secret")
	}
	if !s.Equal("hunter2-very-secret") || s.Equal("hunter2") || NewSecret("").Equal("") {
		t.Error("Equal compares wrongly")
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "2001:db8::/64", "::ffff:10.0.0.1", "host.example", "10.0.0.1/8", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		again, err := ParseTarget(tg.String())
		if err != nil || again != tg {
			t.Fatalf("%q parsed to %v, which re-parses to %v, %v", s, tg, again, err)
		}
		if tg.IsIP() {
			req := Request{IdempotencyKey: "k", Kind: BlockIP, Target: tg}
			if err := req.Validate(); err != nil {
				t.Fatalf("a parsed target fails validation: %v", err)
			}
		}
	})
}
