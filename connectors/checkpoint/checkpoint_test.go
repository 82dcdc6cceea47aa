package checkpoint

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func secretsEnv(env connectors.Env) connectors.Env {
	env.LookupEnv = func(k string) (string, bool) {
		v, ok := map[string]string{"CP_PASSWORD": connectortest.CheckPointPassword, "CP_API_KEY": connectortest.CheckPointAPIKey}[k]
		return v, ok
	}
	return env
}

var allSecrets = []string{connectortest.CheckPointPassword, connectortest.CheckPointAPIKey}

// newConn builds a connector against fake f with the user/password login, the fake's
// CA and no pause between show-task polls.
func newConn(t *testing.T, f *connectortest.CheckPoint, extra string, env connectors.Env) *CheckPoint {
	t.Helper()
	raw := "url: " + f.URL + "\nca_file: " + f.CAFile + "\ngroup: warroom-block\n"
	if !strings.Contains(extra, "api_key_env") {
		raw += "user: " + connectortest.CheckPointUser + "\npassword_env: CP_PASSWORD\n"
	}
	cfg, err := ParseConfig([]byte(raw + extra))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	c.wait = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func req(kind connectors.ActionKind, target string) connectors.Request {
	tg, err := connectors.ParseTarget(target)
	if err != nil {
		panic(err)
	}
	return connectors.Request{ActionID: "act-1", IdempotencyKey: "idem-" + target, Kind: kind, Target: tg, TTL: time.Hour}
}

func TestConformance(t *testing.T) {
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		f := connectortest.NewCheckPoint(t)
		c := newConn(t, f, "policy_package: Standard\ninstall_targets: [gw-edge-1]\n", env)
		return connectortest.VendorSubject{Subject: connectortest.Subject{Connector: c, Secrets: allSecrets}, Faults: f, Mutations: f.Mutations, Logins: f.Logins}
	})
}

func TestAPIKeyConformance(t *testing.T) {
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		f := connectortest.NewCheckPoint(t)
		c := newConn(t, f, "api_key_env: CP_API_KEY\n", env)
		return connectortest.VendorSubject{Subject: connectortest.Subject{Connector: c, Secrets: allSecrets}, Faults: f, Mutations: f.Mutations, Logins: f.Logins}
	})
}

func TestBlockPublishesObjectInGroup(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	for _, tc := range []struct{ target, name, addr string }{
		{"203.0.113.7", "warroom_203.0.113.7", "203.0.113.7"},
		{"2001:db8::1", "warroom_2001_db8__1", "2001:db8::1"},
		{"198.51.100.0/24", "warroom_198.51.100.0_24", "198.51.100.0/24"},
	} {
		r, err := c.Execute(ctx, req(connectors.BlockIP, tc.target))
		if err != nil || !r.Changed || r.Reference != tc.name {
			t.Fatalf("Execute %s: %+v, %v", tc.target, r, err)
		}
		if got := f.PublishedMembers("warroom-block")[tc.name]; got != tc.addr {
			t.Errorf("published member %s = %q, want %q", tc.name, got, tc.addr)
		}
	}
	r, err := c.Revert(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed || r.Detail != "removed warroom_203.0.113.7 (203.0.113.7/32) from group warroom-block; deleted host warroom_203.0.113.7; published" {
		t.Fatalf("Revert: %+v, %v", r, err)
	}
	if got := f.PublishedObjects(); strings.Join(got, ",") != "warroom_198.51.100.0_24,warroom_2001_db8__1" {
		t.Errorf("objects after revert: %v; want the reverted host deleted", got)
	}
	if len(f.Installs()) != 0 {
		t.Errorf("installed policy without policy_package: %v", f.Installs())
	}
}

func TestUnblockIsTheInverse(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	if _, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.9")); err != nil {
		t.Fatal(err)
	}
	un := req(connectors.UnblockIP, "203.0.113.9")
	r, err := c.Execute(ctx, un)
	if err != nil || !r.Changed {
		t.Fatalf("unblock: %+v %v", r, err)
	}
	if v, err := c.Verify(ctx, un); err != nil || !v.InPlace || !v.Observed {
		t.Fatalf("Verify unblock: %+v %v", v, err)
	}
	if len(f.PublishedMembers("warroom-block")) != 0 {
		t.Errorf("members after unblock: %v", f.PublishedMembers("warroom-block"))
	}
}

func TestInstallPolicyAfterPublish(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "policy_package: Standard\ninstall_targets: [gw-edge-1, gw-edge-2]\n", connectors.Env{})
	r, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.Detail, "published; installed Standard on gw-edge-1, gw-edge-2") {
		t.Errorf("Detail %q", r.Detail)
	}
	got := f.Installs()
	if len(got) != 1 || got[0].PolicyPackage != "Standard" || strings.Join(got[0].Targets, ",") != "gw-edge-1,gw-edge-2" {
		t.Errorf("installs %+v", got)
	}
}

func TestOneSessionReusedAndLoggedOut(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	for _, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		if _, err := c.Execute(ctx, req(connectors.BlockIP, ip)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Verify(ctx, req(connectors.BlockIP, ip)); err != nil {
			t.Fatal(err)
		}
	}
	if rd := c.Ready(ctx); !rd.OK() || rd.Message != "logged in with user warroom-api; group warroom-block has 3 member(s)" {
		t.Errorf("Ready %+v", rd)
	}
	if f.Logins() != 1 || f.OpenSessions() != 1 {
		t.Errorf("%d logins, %d open sessions; want one session reused", f.Logins(), f.OpenSessions())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if f.Logouts() != 1 || f.OpenSessions() != 0 {
		t.Errorf("after Close: %d logouts, %d open sessions", f.Logouts(), f.OpenSessions())
	}
}

func TestExpiredSessionRedoesTheOperation(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	if rd := c.Ready(ctx); !rd.OK() {
		t.Fatal(rd)
	}
	f.ExpireTokens()
	r, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed {
		t.Fatalf("Execute after expiry: %+v %v", r, err)
	}
	if f.Logins() != 2 {
		t.Errorf("%d logins, want 2", f.Logins())
	}
	if _, ok := f.PublishedMembers("warroom-block")["warroom_203.0.113.7"]; !ok {
		t.Error("the change was not published")
	}
}

func TestAddressBlockedByAnotherObject(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	f.SeedHost("warroom-block", "bad-actor-7", "203.0.113.7")
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	before := f.Mutations()
	r, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || r.Changed || r.Detail != "203.0.113.7/32 is already in group warroom-block as bad-actor-7" {
		t.Fatalf("Execute: %+v %v", r, err)
	}
	if f.Mutations() != before {
		t.Error("an address already in the group got a second object")
	}
	if v, err := c.Verify(ctx, req(connectors.BlockIP, "203.0.113.7")); err != nil || !v.InPlace {
		t.Errorf("Verify %+v %v", v, err)
	}
	_, err = c.Revert(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "which warroom did not create") {
		t.Fatalf("Revert of a foreign member: %v; want a permanent refusal", err)
	}
}

func TestLoginRefused(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	f.RejectCredentials(true)
	c := newConn(t, f, "", connectors.Env{})
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	want := "checkpoint checkpoint: login answered 400 err_login_failed: Authentication to server failed."
	if err == nil || err.Error() != want || connectors.Retryable(err) {
		t.Fatalf("err = %v, want permanent %q", err, want)
	}
	rd := c.Ready(context.Background())
	if rd.Reachable != connectors.Passed || rd.Authenticated != connectors.Failed || rd.Message != want {
		t.Errorf("Ready %+v", rd)
	}
}

func TestMissingGroupNotPermitted(t *testing.T) {
	f := connectortest.NewCheckPoint(t, "other-group")
	c := newConn(t, f, "", connectors.Env{})
	rd := c.Ready(context.Background())
	if rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed ||
		rd.Message != "checkpoint checkpoint: group warroom-block does not exist; create it and use it in the block rule" {
		t.Errorf("Ready %+v", rd)
	}
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) {
		t.Errorf("Execute on a missing group: %v", err)
	}
}

func TestUnknownCertificateIsPermanent(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	cfg, err := ParseConfig([]byte("url: " + f.URL + "\nuser: u\npassword_env: CP_PASSWORD\ngroup: warroom-block\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(connectors.Env{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "certificate") || !strings.HasSuffix(err.Error(), "set ca_file to the CA that signed the server's certificate") {
		t.Fatalf("err = %v", err)
	}
	if f.Logins() != 0 {
		t.Error("logged in over an unverified connection")
	}
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	env, logs, _ := connectortest.NewEnv("cp")
	cfg, err := ParseConfig([]byte("url: " + f.URL + "\nuser: " + connectortest.CheckPointUser + "\npassword_env: CP_PASSWORD\ngroup: warroom-block\ninsecure_skip_verify: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.Contains(logs.String(), "level=WARN msg=\"checkpoint: insecure_skip_verify is set") {
		t.Errorf("no warning logged: %s", logs)
	}
	if rd := c.Ready(context.Background()); !rd.OK() {
		t.Errorf("Ready %+v", rd)
	}
}

func TestUnreachable(t *testing.T) {
	cfg, err := ParseConfig([]byte("url: https://127.0.0.1:1\nuser: u\npassword_env: CP_PASSWORD\ngroup: g\ntimeout: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(connectors.Env{}))
	if err != nil {
		t.Fatal(err)
	}
	rd := c.Ready(context.Background())
	if rd.Reachable != connectors.Failed || !strings.Contains(rd.Message, "connection refused") {
		t.Errorf("Ready %+v", rd)
	}
	_, err = c.Verify(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || !connectors.Retryable(err) {
		t.Errorf("Verify against nothing: %v, want retryable", err)
	}
}

func TestPreview(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "policy_package: Standard\ninstall_targets: [gw1]\n", connectors.Env{})
	d, err := c.Preview(context.Background(), req(connectors.BlockIP, "2001:db8::/64"))
	if err != nil {
		t.Fatal(err)
	}
	want := "add-network warroom_2001_db8___64 (2001:db8::/64) unless it exists\nset-group warroom-block members add warroom_2001_db8___64\npublish\ninstall-policy Standard on gw1"
	if d.String() != want {
		t.Errorf("Preview\n%s\nwant\n%s", d, want)
	}
	if f.Logins() != 0 {
		t.Error("Preview contacted the server")
	}
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	if rd := c.Ready(context.Background()); !rd.OK() {
		t.Fatal(rd)
	}
	f.FailNext(429, 1)
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if d, ok := connectors.RetryAfter(err); !ok || d != time.Second || !strings.Contains(err.Error(), "show-group answered 429 generic_err_too_many_requests") {
		t.Fatalf("err %v, retry after %v %v", err, d, ok)
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Error("the API error is not reachable with errors.As")
	}
}

func TestFailedPublishIsDiscarded(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	f.FailNextTask()
	_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), " failed: Validation failed: object is locked by another session") {
		t.Fatalf("err = %v; want a permanent error naming the failed task", err)
	}
	if f.Discards() != 1 {
		t.Errorf("%d discards; want the session's changes discarded", f.Discards())
	}
	if v, err := c.Verify(ctx, req(connectors.BlockIP, "203.0.113.7")); err != nil || v.InPlace {
		t.Fatalf("Verify after the failed publish: %+v %v", v, err)
	}
	// The next attempt starts clean: the host is created again, not found half-made.
	r, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed || !strings.HasPrefix(r.Detail, "add-host warroom_203.0.113.7; ") {
		t.Fatalf("retry: %+v %v", r, err)
	}
}

func TestSessionLostMidChangeIsRedoneAndDiscarded(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	f.ExpireAfter("add-host") // the host exists only in the session that now expires
	r, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed {
		t.Fatalf("Execute: %+v %v", r, err)
	}
	if f.Logins() != 2 || f.Discards() != 1 || f.PendingDrafts() != 0 {
		t.Errorf("%d logins, %d discards, %d sessions with unpublished changes; want the expired session's changes discarded",
			f.Logins(), f.Discards(), f.PendingDrafts())
	}
	if got := f.PublishedMembers("warroom-block")["warroom_203.0.113.7"]; got != "203.0.113.7" {
		t.Errorf("published member %q", got)
	}
}

func TestRequestTimeoutIsRetryable(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "timeout: 50ms\n", connectors.Env{})
	f.SetLatency(5 * time.Second)
	defer f.SetLatency(0)
	_, err := c.Verify(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), "Client.Timeout exceeded") {
		t.Fatalf("err = %v; want a retryable client timeout", err)
	}
}

func TestReadyWhenTheServerFails(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "", connectors.Env{})
	f.FailNext(503, 1)
	rd := c.Ready(context.Background())
	if rd.Reachable != connectors.Failed || rd.OK() || !strings.Contains(rd.Message, "show-group answered 503 generic_server_error") {
		t.Errorf("Ready %+v", rd)
	}
	if rd := c.Ready(context.Background()); !rd.OK() {
		t.Errorf("Ready once the server recovers: %+v", rd)
	}
}

func TestKeptObjectIsReused(t *testing.T) {
	f := connectortest.NewCheckPoint(t)
	c := newConn(t, f, "delete_objects: false\n", connectors.Env{})
	ctx := context.Background()
	for _, target := range []string{"203.0.113.7", "198.51.100.0/24"} {
		if _, err := c.Execute(ctx, req(connectors.BlockIP, target)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Revert(ctx, req(connectors.BlockIP, target)); err != nil {
			t.Fatal(err)
		}
		r, err := c.Execute(ctx, req(connectors.BlockIP, target))
		if err != nil || !r.Changed || strings.HasPrefix(r.Detail, "add-") {
			t.Fatalf("re-block %s: %+v %v; want the kept object added back, not created again", target, r, err)
		}
	}
	if got := strings.Join(f.PublishedObjects(), ","); got != "warroom_198.51.100.0_24,warroom_203.0.113.7" {
		t.Errorf("objects %s", got)
	}
}
