package defender

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
		return connectortest.DefenderClientSecret, k == "MDE_SECRET"
	}
	return env
}

// newTestDefender builds a connector against fake, with extra config lines. Waits
// between polls advance the env's fake clock instead of sleeping.
func newTestDefender(t *testing.T, fake *connectortest.Defender, env connectors.Env, extra string) *Defender {
	t.Helper()
	cfg, err := ParseConfig(fmt.Appendf(nil, "tenant_id: %s\nclient_id: %s\nclient_secret_env: MDE_SECRET\napi_url: %s\nlogin_url: %s\n%s",
		connectortest.DefenderTenantID, connectortest.DefenderClientID, fake.URL, fake.LoginURL, extra))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, testEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if fc, ok := d.clock.(*clock.Fake); ok {
		d.sleep = func(ctx context.Context, dur time.Duration) error {
			fc.Advance(dur)
			return ctx.Err()
		}
	}
	return d
}

func isolate(host string) connectors.Request {
	tg, err := connectors.ParseTarget(host)
	if err != nil {
		panic(err)
	}
	return connectors.Request{ActionID: "act-9", IdempotencyKey: "idem-" + host, Kind: connectors.IsolateHost, Target: tg, TTL: time.Hour,
		Params: map[string]string{"incident": "INC-0042"}}
}

func TestConformance(t *testing.T) {
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
		fake.AddMachine("ws-conformance.corp.example", "10.1.2.3")
		fake.AddMachine("ws-faults.corp.example", "10.1.2.4")
		fake.AddMachine("ws-bystander.corp.example", "10.1.2.5")
		d := newTestDefender(t, fake, env, "")
		return connectortest.VendorSubject{
			Subject:   connectortest.Subject{Connector: d, Kind: connectors.IsolateHost, Secrets: []string{connectortest.DefenderClientSecret}},
			Faults:    fake,
			Mutations: fake.Mutations,
		}
	})
}

func TestIsolateAndRelease(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	id := fake.AddMachine("ws-042.corp.example", "10.20.0.42")
	other := fake.AddMachine("ws-043.corp.example", "10.20.0.43")
	env, _, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "isolation_type: Selective\n")
	ctx := context.Background()
	req := isolate("ws-042.corp.example")
	res, err := d.Execute(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Reference == "" || !strings.Contains(res.Detail, "Defender accepted isolate of machine ws-042.corp.example") ||
		!strings.Contains(res.Detail, "Selective isolation") {
		t.Errorf("Execute = %+v", res)
	}
	v, err := d.Verify(ctx, req)
	if err != nil || !v.InPlace || !v.Observed {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	if iso, _ := fake.Isolated(id); !iso {
		t.Error("the fake does not hold the machine isolated")
	}
	if iso, st := fake.Isolated(other); iso || st != "" {
		t.Errorf("another machine got an action: %v %s", iso, st)
	}
	want := "warroom edr: isolate ws-042.corp.example for incident INC-0042 (action act-9)"
	if c := fake.Comments(); len(c) != 1 || c[0] != want {
		t.Errorf("comments %q, want %q", c, want)
	}
	rel := req
	rel.Kind = connectors.ReleaseHost
	if v, err := d.Verify(ctx, rel); err != nil || v.InPlace {
		t.Fatalf("Verify release while isolated: %+v, %v", v, err)
	}
	if res, err := d.Execute(ctx, rel); err != nil || !res.Changed {
		t.Fatalf("release: %+v, %v", res, err)
	}
	if v, err := d.Verify(ctx, rel); err != nil || !v.InPlace {
		t.Fatalf("Verify release: %+v, %v", v, err)
	}
	if got := fake.Actions(); strings.Join(got, ",") != "Isolate "+id+" Selective,Unisolate "+id {
		t.Errorf("actions %v", got)
	}
}

func TestLookup(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	byName := fake.AddMachine("ws-short.corp.example", "10.0.0.7")
	byIP := fake.AddMachine("ws-ip.corp.example", "10.0.0.8")
	env, _, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "")
	ctx := context.Background()
	// A bare host name matches name.<domain>; case does not matter.
	if _, err := d.Execute(ctx, isolate("WS-SHORT")); err != nil {
		t.Fatal(err)
	}
	if _, st := fake.Isolated(byName); st == "" {
		t.Error("bare host name did not reach ws-short.corp.example")
	}
	// An address finds the machine by lastIpAddress, as a host or an IP target.
	if _, err := d.Execute(ctx, isolate("10.0.0.8")); err != nil {
		t.Fatal(err)
	}
	req := isolate("x")
	req.Target = connectors.HostTarget("10.0.0.8")
	if res, err := d.Execute(ctx, req); err != nil || res.Changed {
		t.Fatalf("second execute by address: %+v, %v", res, err)
	}
	if _, st := fake.Isolated(byIP); st == "" {
		t.Error("address lookup did not reach ws-ip")
	}
	if n := fake.Mutations(); n != 2 {
		t.Errorf("%d machine actions, want 2", n)
	}
	_, err := d.Execute(ctx, isolate("nosuch"))
	if err == nil || connectors.Retryable(err) ||
		err.Error() != "defender edr: no machine matches computerDnsName eq 'nosuch' or startswith(computerDnsName,'nosuch.')" {
		t.Errorf("unknown host: %v", err)
	}
	_, err = d.Execute(ctx, isolate("10.0.0.0/24"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "is a network, not a host") {
		t.Errorf("network target: %v", err)
	}
}

func TestDuplicateMachines(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	old := fake.AddMachine("dup.corp.example", "10.0.0.1")
	cur := fake.AddMachine("dup.corp.example", "10.0.0.2")
	fake.SetHealth(old, "Inactive")
	env, _, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "")
	ctx := context.Background()
	// One Active record among stale ones: the Active one is isolated.
	if _, err := d.Execute(ctx, isolate("dup.corp.example")); err != nil {
		t.Fatal(err)
	}
	if _, st := fake.Isolated(cur); st == "" {
		t.Error("the Active machine was not isolated")
	}
	// Two Active records: refuse to guess.
	fake.SetHealth(old, "Active")
	_, err := d.Execute(ctx, isolate("dup.corp.example"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "2 machines match computerDnsName eq 'dup.corp.example'") {
		t.Fatalf("ambiguous: %v", err)
	}
	if n := fake.Mutations(); n != 1 {
		t.Errorf("%d machine actions, want 1", n)
	}
}

func TestPendingActionIsIdempotentAndSettles(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{PendingReads: 3})
	fake.AddMachine("ws-slow.corp.example", "10.0.0.9")
	env, _, clk := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "settle_timeout: 30s\npoll_interval: 2s\n")
	ctx := context.Background()
	req := isolate("ws-slow.corp.example")
	first, err := d.Execute(ctx, req)
	if err != nil || !first.Changed {
		t.Fatal(first, err)
	}
	again, err := d.Execute(ctx, req)
	if err != nil || again.Changed || again.Reference != first.Reference || !strings.Contains(again.Detail, "is InProgress") {
		t.Fatalf("repeat while pending: %+v, %v; want the pending action reported", again, err)
	}
	start := clk.Now()
	v, err := d.Verify(ctx, req)
	if err != nil || !v.InPlace {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	if waited := clk.Now().Sub(start); waited <= 0 || waited > 30*time.Second {
		t.Errorf("Verify waited %v", waited)
	}
	if fake.Mutations() != 1 {
		t.Errorf("%d machine actions, want 1", fake.Mutations())
	}
}

func TestPendingBeyondSettleTimeout(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{PendingReads: 1000})
	fake.AddMachine("ws-offline.corp.example", "10.0.0.10")
	env, _, clk := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "settle_timeout: 10s\npoll_interval: 2s\n")
	ctx := context.Background()
	req := isolate("ws-offline.corp.example")
	if _, err := d.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	v, err := d.Verify(ctx, req)
	if err != nil || v.InPlace || !strings.Contains(v.Detail, "is InProgress after 10s") {
		t.Fatalf("Verify = %+v, %v; want not in place, still pending", v, err)
	}
	if waited := clk.Now().Sub(start); waited < 10*time.Second || waited > 12*time.Second {
		t.Errorf("Verify waited %v; want settle_timeout", waited)
	}
}

// A second isolate racing a pending one gets Defender's 400
// ActiveRequestAlreadyExists; the connector reports the pending action as success.
func TestActiveRequestAlreadyExists(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{PendingReads: 1000})
	fake.AddMachine("ws-race.corp.example", "10.0.0.11")
	envA, _, _ := connectortest.NewEnv("edr")
	a := newTestDefender(t, fake, envA, "settle_timeout: 0s\n")
	ctx := context.Background()
	req := isolate("ws-race.corp.example")
	if _, err := a.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	// Drive the race directly: post while an Isolate is pending.
	m, err := a.lookup(ctx, req.Target)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.call(ctx, "POST", "/api/machines/"+m.ID+"/isolate", "", []byte(`{"Comment":"second","IsolationType":"Full"}`), nil)
	var ae *apiError
	if !errors.As(err, &ae) || ae.code != "ActiveRequestAlreadyExists" || connectors.Retryable(err) {
		t.Fatalf("duplicate post: %v; want 400 ActiveRequestAlreadyExists", err)
	}
	res, err := a.Execute(ctx, req)
	if err != nil || res.Changed {
		t.Fatalf("Execute with a pending isolation: %+v, %v", res, err)
	}
}

func TestStateOf(t *testing.T) {
	act := func(id, typ, status, at string) MachineAction {
		return MachineAction{ID: id, Type: typ, Status: status, CreationDateTime: at}
	}
	for _, tc := range []struct {
		name    string
		actions []MachineAction
		want    string
		iso     bool
	}{
		{"none", nil, "never isolated", false},
		{"isolated", []MachineAction{act("1", "Isolate", "Succeeded", "2026-01-01T10:00:00Z")}, "isolated (Isolate 1 Succeeded)", true},
		{"released", []MachineAction{act("2", "Unisolate", "Succeeded", "2026-01-01T11:00:00Z"), act("1", "Isolate", "Succeeded", "2026-01-01T10:00:00Z")},
			"not isolated (Unisolate 2 Succeeded)", false},
		{"failed release", []MachineAction{act("1", "Isolate", "Succeeded", "2026-01-01T10:00:00Z"), act("2", "Unisolate", "Failed", "2026-01-01T11:00:00Z")},
			"isolated (Isolate 1 Succeeded); a later Unisolate 2 ended Failed", true},
		{"other types ignored", []MachineAction{act("1", "Isolate", "Succeeded", "2026-01-01T10:00:00Z"), act("3", "RunAntiVirusScan", "Succeeded", "2026-01-01T12:00:00Z")},
			"isolated (Isolate 1 Succeeded)", true},
		{"pending", []MachineAction{act("1", "Isolate", "Pending", "2026-01-01T10:00:00.1234567Z")}, "Isolate 1 is Pending", true},
	} {
		st := StateOf(tc.actions)
		if st.String() != tc.want || st.Isolated != tc.iso {
			t.Errorf("%s: %q isolated=%v; want %q isolated=%v", tc.name, st, st.Isolated, tc.want, tc.iso)
		}
	}
}

func TestTokenCachedAndRefreshed(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	env, _, clk := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "")
	ctx := context.Background()
	req := isolate("ws-1.corp.example")
	for range 3 {
		if _, err := d.Verify(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for 3 verifications; want the token cached", n)
	}
	clk.Advance(56 * time.Minute) // 3599s lifetime, renewed 5 minutes before it ends
	if _, err := d.Verify(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokenRequests(); n != 2 {
		t.Fatalf("%d token requests; want a refresh before expiry", n)
	}
	fake.ExpireTokens()
	if _, err := d.Verify(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokenRequests(); n != 3 {
		t.Fatalf("%d token requests; want a new login after the 401", n)
	}
}

func TestPermissions(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{Roles: []string{"Machine.Read.All"}})
	fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "")
	ctx := context.Background()
	rd := d.Ready(ctx)
	if rd.Reachable != connectors.Passed || rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed ||
		!strings.Contains(rd.Message, "lacks the Machine.Isolate application permission (token roles: Machine.Read.All)") {
		t.Errorf("Ready without Machine.Isolate = %+v", rd)
	}
	_, err := d.Execute(ctx, isolate("ws-1.corp.example"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "403 Forbidden: Forbidden: The application does not have any of the required application roles (Machine.Isolate)") {
		t.Fatalf("Execute without Machine.Isolate: %v", err)
	}
	fake.SetRoles()
	fake.ExpireTokens()
	rd = d.Ready(ctx)
	if rd.Permitted != connectors.Failed || rd.Authenticated != connectors.Passed {
		t.Errorf("Ready without any role = %+v", rd)
	}
	fake.SetRoles("Machine.Isolate", "Machine.ReadWrite.All")
	fake.ExpireTokens()
	if rd := d.Ready(ctx); !rd.OK() || rd.Permitted != connectors.Passed {
		t.Errorf("Ready with Machine.Isolate and Machine.ReadWrite.All = %+v", rd)
	}
}

func TestWrongTenantIsPermanent(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	cfg, err := ParseConfig(fmt.Appendf(nil, "tenant_id: contoso.onmicrosoft.com\nclient_id: %s\nclient_secret_env: MDE_SECRET\napi_url: %s\nlogin_url: %s\n",
		connectortest.DefenderClientID, fake.URL, fake.LoginURL))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, testEnv(connectors.Env{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = d.Verify(ctx, isolate("ws-1"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "invalid_request: AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.") ||
		strings.Contains(err.Error(), "Trace ID") {
		t.Fatalf("wrong tenant: %v", err)
	}
	if rd := d.Ready(ctx); rd.Authenticated != connectors.Failed {
		t.Errorf("Ready with a wrong tenant = %+v", rd)
	}
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "")
	fake.FailNext(429, 1)
	_, err := d.Verify(context.Background(), isolate("ws-1.corp.example"))
	if ra, ok := connectors.RetryAfter(err); !connectors.Retryable(err) || !ok || ra != time.Second {
		t.Fatalf("429: %v, retry after %v (%v)", err, ra, ok)
	}
	if !strings.Contains(err.Error(), "TooManyRequests: Too many requests") {
		t.Errorf("error %v does not carry Defender's message", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 27, 50, 500_000_000, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"soon", 0}, {"-1", 0}, {"0", time.Second}, {"7", 7 * time.Second},
		{"9999999999", 24 * time.Hour}, {"Wed, 21 Oct 2015 07:28:00 GMT", 10 * time.Second},
		{"Wed, 21 Oct 2015 07:00:00 GMT", time.Second}, {"Fri, 21 Oct 2016 07:28:00 GMT", 24 * time.Hour},
	} {
		if got := RetryAfter(tc.v, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestTLS(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{TLS: true})
	fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	ctx := context.Background()
	t.Run("untrusted certificate is permanent", func(t *testing.T) {
		env, _, _ := connectortest.NewEnv("edr")
		d := newTestDefender(t, fake, env, "")
		_, err := d.Verify(ctx, isolate("ws-1.corp.example"))
		if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "set ca_file") {
			t.Fatalf("Verify against an unknown CA: %v", err)
		}
	})
	t.Run("ca_file", func(t *testing.T) {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, fake.CertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		env, logs, _ := connectortest.NewEnv("edr")
		d := newTestDefender(t, fake, env, "ca_file: "+ca+"\n")
		if rd := d.Ready(ctx); !rd.OK() {
			t.Fatalf("Ready with ca_file = %+v", rd)
		}
		if strings.Contains(logs.String(), "insecure_skip_verify") {
			t.Errorf("warning logged without insecure_skip_verify: %s", logs)
		}
	})
	t.Run("insecure_skip_verify warns", func(t *testing.T) {
		env, logs, _ := connectortest.NewEnv("edr")
		d := newTestDefender(t, fake, env, "insecure_skip_verify: true\n")
		if v, err := d.Verify(ctx, isolate("ws-1.corp.example")); err != nil || v.InPlace {
			t.Fatalf("Verify with insecure_skip_verify: %+v, %v", v, err)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "insecure_skip_verify is set") {
			t.Errorf("no warning logged: %s", logs)
		}
	})
}

func TestUnreachableIsRetryable(t *testing.T) {
	cfg, _ := ParseConfig(fmt.Appendf(nil, "tenant_id: %s\nclient_id: %s\nclient_secret_env: MDE_SECRET\napi_url: http://127.0.0.1:1\nlogin_url: http://127.0.0.1:1\ntimeout: 2s\n",
		connectortest.DefenderTenantID, connectortest.DefenderClientID))
	d, err := New(cfg, testEnv(connectors.Env{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Execute(ctx, isolate("ws-1")); err == nil || !connectors.Retryable(err) {
		t.Fatalf("Execute against a closed port: %v; want retryable", err)
	}
	if rd := d.Ready(ctx); rd.Reachable != connectors.Failed || rd.Message == "" {
		t.Errorf("Ready against a closed port = %+v", rd)
	}
}

func TestNoSecretOrTokenLeaks(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	env, logs, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "")
	ctx := context.Background()
	var seen []string
	note := func(v ...any) {
		for _, x := range v {
			seen = append(seen, fmt.Sprintf("%+v %#v", x, x))
		}
	}
	req := isolate("ws-1.corp.example")
	r, err := d.Execute(ctx, req)
	note(r, err)
	fake.ExpireTokens()
	v, err := d.Verify(ctx, req)
	note(v, err)
	fake.FailNext(503, 1)
	_, err = d.Verify(ctx, req)
	note(err)
	fake.RejectCredentials(true)
	_, err = d.Revert(ctx, req)
	note(err, d.Ready(ctx), d)
	if len(fake.IssuedTokens()) < 2 {
		t.Fatalf("want at least two tokens issued, got %d", len(fake.IssuedTokens()))
	}
	secrets := append([]string{connectortest.DefenderClientSecret}, fake.IssuedTokens()...)
	connectortest.AssertNoSecret(t, secrets, append(seen, logs.String())...)
	var ae *apiError
	if !errors.As(err, &ae) || !ae.auth || !strings.Contains(err.Error(), "invalid_client: AADSTS7000215: Invalid client secret provided.") {
		t.Errorf("refused credentials: %v", err)
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "dry_run: true\n")
	ctx := context.Background()
	req := isolate("ws-1.corp.example")
	res, err := d.Execute(ctx, req)
	if err != nil || !res.DryRun || !res.Changed {
		t.Fatalf("dry-run Execute = %+v, %v", res, err)
	}
	if v, err := d.Verify(ctx, req); err != nil || !v.InPlace || !v.DryRun {
		t.Fatalf("dry-run Verify = %+v, %v", v, err)
	}
	if fake.Mutations() != 0 || fake.TokenRequests() != 0 {
		t.Errorf("dry run sent %d actions, %d token requests", fake.Mutations(), fake.TokenRequests())
	}
}

func TestRequestTimeoutIsRetryable(t *testing.T) {
	fake := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	env, _, _ := connectortest.NewEnv("edr")
	d := newTestDefender(t, fake, env, "timeout: 50ms\n")
	fake.SetLatency(5 * time.Second)
	defer fake.SetLatency(0)
	_, err := d.Verify(context.Background(), isolate("ws-1.corp.example"))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), "Client.Timeout") {
		t.Fatalf("Verify slower than timeout: %v; want a retryable timeout", err)
	}
}
