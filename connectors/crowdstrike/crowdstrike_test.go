package crowdstrike

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
	"github.com/warroom/warroom/internal/clock"
)

func testEnv(env connectors.Env) connectors.Env {
	env.LookupEnv = func(k string) (string, bool) {
		return connectortest.FalconClientSecret, k == "FALCON_SECRET"
	}
	return env
}

// newTestFalcon builds a connector against fake, with extra config lines. Waits
// between polls advance the env's fake clock instead of sleeping.
func newTestFalcon(t *testing.T, fake *connectortest.CrowdStrike, env connectors.Env, extra string) *Falcon {
	t.Helper()
	cfg, err := ParseConfig(fmt.Appendf(nil, "base_url: %s\nclient_id: %s\nclient_secret_env: FALCON_SECRET\n%s", fake.URL, connectortest.FalconClientID, extra))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg, testEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if fc, ok := f.clock.(*clock.Fake); ok {
		f.sleep = func(ctx context.Context, d time.Duration) error {
			fc.Advance(d)
			return ctx.Err()
		}
	}
	return f
}

func isolate(host string) connectors.Request {
	tg, err := connectors.ParseTarget(host)
	if err != nil {
		panic(err)
	}
	return connectors.Request{ActionID: "act-1", IdempotencyKey: "idem-" + host, Kind: connectors.IsolateHost, Target: tg, TTL: time.Hour,
		Params: map[string]string{"incident": "INC-0007"}}
}

func TestConformance(t *testing.T) {
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
		fake.AddDevice("ws-conformance", "10.1.2.3")
		fake.AddDevice("ws-faults", "10.1.2.4")
		fake.AddDevice("ws-bystander", "10.1.2.5")
		f := newTestFalcon(t, fake, env, "")
		return connectortest.VendorSubject{
			Subject:   connectortest.Subject{Connector: f, Kind: connectors.IsolateHost, Secrets: []string{connectortest.FalconClientSecret}},
			Faults:    fake,
			Mutations: fake.Mutations,
		}
	})
}

func TestContainAndLiftByHostname(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	id := fake.AddDevice("ws-042", "10.20.0.42")
	other := fake.AddDevice("ws-043", "10.20.0.43")
	env, _, _ := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "")
	ctx := context.Background()
	req := isolate("ws-042")
	res, err := f.Execute(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Reference != id || !strings.Contains(res.Detail, "contain of host ws-042") {
		t.Errorf("Execute = %+v", res)
	}
	v, err := f.Verify(ctx, req)
	if err != nil || !v.InPlace || !v.Observed || fake.Status(id) != StatusContained {
		t.Fatalf("Verify = %+v, %v; fake status %s", v, err, fake.Status(id))
	}
	if fake.Status(other) != StatusNormal {
		t.Errorf("another device changed: %s", fake.Status(other))
	}
	// release_host lifts the containment; its Revert contains again.
	rel := req
	rel.Kind = connectors.ReleaseHost
	if res, err := f.Execute(ctx, rel); err != nil || !res.Changed {
		t.Fatalf("release: %+v, %v", res, err)
	}
	if v, err := f.Verify(ctx, rel); err != nil || !v.InPlace {
		t.Fatalf("Verify release: %+v, %v", v, err)
	}
	if res, err := f.Revert(ctx, rel); err != nil || !res.Changed {
		t.Fatalf("revert of release: %+v, %v", res, err)
	}
	if v, err := f.Verify(ctx, req); err != nil || !v.InPlace {
		t.Fatalf("contained again after reverting the release: %+v, %v", v, err)
	}
	want := []string{"contain " + id, "lift_containment " + id, "contain " + id}
	if got := fake.Actions(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("actions %v, want %v", got, want)
	}
}

func TestLookupByAddress(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	id := fake.AddDevice("ws-7", "10.9.8.7")
	env, _, _ := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "")
	ctx := context.Background()
	for _, target := range []connectors.Target{connectors.HostTarget("10.9.8.7"), isolate("10.9.8.7").Target} {
		req := isolate("x")
		req.Target = target
		if _, err := f.Execute(ctx, req); err != nil {
			t.Fatalf("Execute(%s): %v", target, err)
		}
		if fake.Status(id) != StatusContainPending && fake.Status(id) != StatusContained {
			t.Fatalf("target %s: device status %s", target, fake.Status(id))
		}
	}
	if n := fake.Mutations(); n != 1 {
		t.Errorf("%d actions sent; the second execute must see the device contained", n)
	}
	wide := isolate("10.9.8.0/24")
	_, err := f.Execute(ctx, wide)
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "is a network, not a host") {
		t.Errorf("network target: %v", err)
	}
}

func TestUnknownAndAmbiguousHosts(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	fake.AddDevice("dup", "10.0.0.1")
	fake.AddDevice("dup", "10.0.0.2")
	env, _, _ := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "")
	ctx := context.Background()
	_, err := f.Execute(ctx, isolate("nosuch"))
	if err == nil || connectors.Retryable(err) || err.Error() != `crowdstrike edr: no Falcon device matches hostname:'nosuch'` {
		t.Errorf("unknown host: %v", err)
	}
	_, err = f.Execute(ctx, isolate("dup"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "2 Falcon devices match hostname:'dup'") {
		t.Errorf("ambiguous host: %v", err)
	}
	if fake.Mutations() != 0 {
		t.Errorf("%d actions sent for unresolvable hosts", fake.Mutations())
	}
}

func TestPendingContainmentSettles(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{PendingReads: 3})
	id := fake.AddDevice("ws-slow", "10.0.0.9")
	env, _, clk := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "settle_timeout: 30s\npoll_interval: 2s\n")
	ctx := context.Background()
	req := isolate("ws-slow")
	if _, err := f.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	// A repeat while the containment is pending sends nothing.
	if res, err := f.Execute(ctx, req); err != nil || res.Changed {
		t.Fatalf("repeat while pending: %+v, %v", res, err)
	}
	start := clk.Now()
	v, err := f.Verify(ctx, req)
	if err != nil || !v.InPlace {
		t.Fatalf("Verify = %+v, %v; want it to wait for the sensor", v, err)
	}
	if waited := clk.Now().Sub(start); waited <= 0 || waited > 30*time.Second {
		t.Errorf("Verify waited %v; want a few poll intervals", waited)
	}
	if fake.Mutations() != 1 || fake.Status(id) != StatusContained {
		t.Errorf("mutations %d, status %s", fake.Mutations(), fake.Status(id))
	}
}

func TestPendingBeyondSettleTimeout(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{PendingReads: 1000})
	fake.AddDevice("ws-offline", "10.0.0.10")
	env, _, clk := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "settle_timeout: 10s\npoll_interval: 2s\n")
	ctx := context.Background()
	req := isolate("ws-offline")
	if _, err := f.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	v, err := f.Verify(ctx, req)
	if err != nil || v.InPlace || !strings.Contains(v.Detail, "still containment_pending after 10s") {
		t.Fatalf("Verify = %+v, %v; want not in place, still pending", v, err)
	}
	if waited := clk.Now().Sub(start); waited < 10*time.Second || waited > 12*time.Second {
		t.Errorf("Verify waited %v; want settle_timeout (10s)", waited)
	}
}

func TestTokenCachedAndRefreshed(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	fake.AddDevice("ws-1", "10.0.0.1")
	env, _, clk := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "")
	ctx := context.Background()
	req := isolate("ws-1")
	for range 3 {
		if _, err := f.Verify(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for 3 verifications; want the token cached", n)
	}
	// 1799s lifetime: after 29 minutes the token is within the refresh margin.
	clk.Advance(29 * time.Minute)
	if _, err := f.Verify(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokenRequests(); n != 2 {
		t.Fatalf("%d token requests; want a refresh before expiry", n)
	}
	// A token the API stops accepting is replaced transparently.
	fake.ExpireTokens()
	if _, err := f.Verify(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokenRequests(); n != 3 {
		t.Fatalf("%d token requests; want a new login after the 401", n)
	}
}

func TestMissingWriteScopeIsPermanent(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{Scopes: []string{"hosts:read"}})
	fake.AddDevice("ws-1", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "")
	ctx := context.Background()
	if rd := f.Ready(ctx); !rd.OK() || rd.Permitted != connectors.Passed {
		t.Errorf("Ready with Hosts: Read = %+v", rd)
	}
	_, err := f.Execute(ctx, isolate("ws-1"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "403 Forbidden: access denied, authorization failed") ||
		!strings.Contains(err.Error(), "Hosts: Write") {
		t.Fatalf("Execute without Hosts: Write: %v", err)
	}
	fake.SetScopes()
	rd := f.Ready(ctx)
	if rd.Permitted != connectors.Failed || rd.Authenticated != connectors.Passed || rd.Reachable != connectors.Passed {
		t.Errorf("Ready without any scope = %+v", rd)
	}
}

func TestRateLimitUsesFalconHeader(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	fake.AddDevice("ws-1", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "")
	f.clock = clock.Real{} // the fake's X-RateLimit-RetryAfter is wall-clock epoch seconds
	fake.FailNext(429, 1)
	_, err := f.Verify(context.Background(), isolate("ws-1"))
	d, ok := connectors.RetryAfter(err)
	if !connectors.Retryable(err) || !ok || d < time.Second || d > 2*time.Second {
		t.Fatalf("429: err %v, retry after %v (%v); want 1-2s from X-RateLimit-RetryAfter", err, d, ok)
	}
	if !strings.Contains(err.Error(), "429 Too Many Requests: API rate limit exceeded.") {
		t.Errorf("error %v does not carry Falcon's message", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Unix(1700000000, 250_000_000)
	for _, tc := range []struct {
		epoch, seconds string
		want           time.Duration
	}{
		{"", "", 0},
		{"junk", "", 0},
		{"1700000003", "", 3 * time.Second},  // 2.75s rounded up
		{"1699999990", "", time.Second},      // in the past: the floor
		{"1800000000", "", 24 * time.Hour},   // capped
		{"", "5", 5 * time.Second},           // plain Retry-After
		{"1700000002", "9", 9 * time.Second}, // the longer of the two
		{"", "999999999999", 24 * time.Hour}, // capped
		{"99999999999999999999", "", 0},      // overflow: unreadable
		{"-5", "", 0},                        // nonsense
		{"1700000001", "0", time.Second},     // 0.75s rounded up
	} {
		if got := RetryAfter(tc.epoch, tc.seconds, now); got != tc.want {
			t.Errorf("RetryAfter(%q, %q) = %v, want %v", tc.epoch, tc.seconds, got, tc.want)
		}
	}
}

func TestTLS(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{TLS: true})
	fake.AddDevice("ws-1", "10.0.0.1")
	ctx := context.Background()
	t.Run("untrusted certificate is permanent", func(t *testing.T) {
		env, _, _ := connectortest.NewEnv("edr")
		f := newTestFalcon(t, fake, env, "")
		_, err := f.Verify(ctx, isolate("ws-1"))
		if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "set ca_file") {
			t.Fatalf("Verify against an unknown CA: %v", err)
		}
		if rd := f.Ready(ctx); rd.OK() {
			t.Errorf("Ready against an unknown CA = %+v", rd)
		}
	})
	t.Run("ca_file", func(t *testing.T) {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, fake.CertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		env, logs, _ := connectortest.NewEnv("edr")
		f := newTestFalcon(t, fake, env, "ca_file: "+ca+"\n")
		if v, err := f.Verify(ctx, isolate("ws-1")); err != nil || v.InPlace {
			t.Fatalf("Verify with ca_file: %+v, %v", v, err)
		}
		if strings.Contains(logs.String(), "insecure_skip_verify") {
			t.Errorf("warning logged without insecure_skip_verify: %s", logs)
		}
	})
	t.Run("insecure_skip_verify warns", func(t *testing.T) {
		env, logs, _ := connectortest.NewEnv("edr")
		f := newTestFalcon(t, fake, env, "insecure_skip_verify: true\n")
		if rd := f.Ready(ctx); !rd.OK() {
			t.Fatalf("Ready with insecure_skip_verify = %+v", rd)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "insecure_skip_verify is set") {
			t.Errorf("no warning logged: %s", logs)
		}
	})
	t.Run("bad ca_file", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.pem")
		if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _ := ParseConfig(fmt.Appendf(nil, "base_url: %s\nclient_id: abc\nclient_secret_env: FALCON_SECRET\nca_file: %s\n", fake.URL, bad))
		_, err := New(cfg, testEnv(connectors.Env{}))
		if err == nil || err.Error() != "ca_file: "+bad+" holds no PEM certificate" {
			t.Errorf("bad ca_file: %v", err)
		}
	})
}

func TestUnreachableIsRetryable(t *testing.T) {
	cfg, _ := ParseConfig([]byte("base_url: http://127.0.0.1:1\nclient_id: abc\nclient_secret_env: FALCON_SECRET\ntimeout: 2s\n"))
	f, err := New(cfg, testEnv(connectors.Env{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = f.Execute(ctx, isolate("ws-1"))
	if err == nil || !connectors.Retryable(err) {
		t.Fatalf("Execute against a closed port: %v; want retryable", err)
	}
	rd := f.Ready(ctx)
	if rd.Reachable != connectors.Failed || rd.Message == "" {
		t.Errorf("Ready against a closed port = %+v", rd)
	}
}

func TestNoSecretOrTokenLeaks(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	fake.AddDevice("ws-1", "10.0.0.1")
	env, logs, _ := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "")
	ctx := context.Background()
	var seen []string
	note := func(v ...any) {
		for _, x := range v {
			seen = append(seen, fmt.Sprintf("%+v %#v", x, x))
		}
	}
	req := isolate("ws-1")
	r, err := f.Execute(ctx, req)
	note(r, err)
	fake.ExpireTokens()
	v, err := f.Verify(ctx, req)
	note(v, err)
	fake.FailNext(503, 1)
	_, err = f.Verify(ctx, req)
	note(err)
	fake.RejectCredentials(true)
	_, err = f.Revert(ctx, req)
	note(err, f.Ready(ctx))
	note(f) // the connector itself, printed, shows no secret either
	if len(fake.IssuedTokens()) < 2 {
		t.Fatalf("want at least two tokens issued, got %d", len(fake.IssuedTokens()))
	}
	secrets := append([]string{connectortest.FalconClientSecret}, fake.IssuedTokens()...)
	connectortest.AssertNoSecret(t, secrets, append(seen, logs.String())...)
	var ae *apiError
	if !errors.As(err, &ae) || !ae.auth {
		t.Errorf("refused credentials: %v; want an authentication error", err)
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	fake.AddDevice("ws-1", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	env.DryRun = true
	f := newTestFalcon(t, fake, env, "")
	ctx := context.Background()
	req := isolate("ws-1")
	res, err := f.Execute(ctx, req)
	if err != nil || !res.DryRun || !res.Changed {
		t.Fatalf("dry-run Execute = %+v, %v", res, err)
	}
	if v, err := f.Verify(ctx, req); err != nil || !v.InPlace || !v.DryRun {
		t.Fatalf("dry-run Verify = %+v, %v", v, err)
	}
	if fake.Mutations() != 0 {
		t.Errorf("dry run sent %d actions", fake.Mutations())
	}
}

func TestRequestTimeoutIsRetryable(t *testing.T) {
	fake := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	fake.AddDevice("ws-1", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	f := newTestFalcon(t, fake, env, "timeout: 50ms\n")
	fake.SetLatency(5 * time.Second)
	defer fake.SetLatency(0)
	_, err := f.Verify(context.Background(), isolate("ws-1"))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), "Client.Timeout") {
		t.Fatalf("Verify slower than timeout: %v; want a retryable timeout", err)
	}
}
