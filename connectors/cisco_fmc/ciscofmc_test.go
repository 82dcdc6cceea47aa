package ciscofmc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
	"github.com/warroom/warroom/internal/clock"
)

func secretsEnv(env connectors.Env) connectors.Env {
	env.LookupEnv = func(k string) (string, bool) {
		return connectortest.FMCPassword, k == "FMC_PASSWORD"
	}
	return env
}

func newConn(t *testing.T, f *connectortest.CiscoFMC, extra string, env connectors.Env) *FMC {
	t.Helper()
	cfg, err := ParseConfig([]byte("url: " + f.URL + "\nca_file: " + f.CAFile + "\nuser: " + connectortest.FMCUser +
		"\npassword_env: FMC_PASSWORD\ngroup: warroom-block\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	c.wait = fakeWait(c)
	return c
}

// fakeWait replaces the pause between task polls: it moves the connector's clock
// when that is a fake one, and never sleeps.
func fakeWait(c *FMC) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		if fc, ok := c.clock.(*clock.Fake); ok {
			fc.Advance(d)
		}
		return ctx.Err()
	}
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
		f := connectortest.NewCiscoFMC(t)
		c := newConn(t, f, "deploy_devices: [ftd-edge-1]\n", env)
		return connectortest.VendorSubject{Subject: connectortest.Subject{Connector: c, Secrets: []string{connectortest.FMCPassword}},
			Faults: f, Mutations: f.Mutations, Logins: f.TokensIssued}
	})
}

func TestRegisteredType(t *testing.T) {
	found := false
	for _, n := range connectors.Names() {
		found = found || n == "cisco_fmc"
	}
	if !found {
		t.Fatalf("cisco_fmc is not registered: %v", connectors.Names())
	}
}

func TestBlockAddsObjectToGroup(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	for _, tc := range []struct{ target, name, value string }{
		{"203.0.113.7", "warroom_203.0.113.7", "203.0.113.7"},
		{"2001:db8::1", "warroom_2001_db8__1", "2001:db8::1"},
		{"198.51.100.0/24", "warroom_198.51.100.0_24", "198.51.100.0/24"},
	} {
		r, err := c.Execute(ctx, req(connectors.BlockIP, tc.target))
		if err != nil || !r.Changed || r.Reference == "" {
			t.Fatalf("Execute %s: %+v %v", tc.target, r, err)
		}
		if got := f.GroupMembers("warroom-block")[tc.name]; got != tc.value {
			t.Errorf("member %s = %q, want %q", tc.name, got, tc.value)
		}
	}
	r, err := c.Revert(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed || r.Detail != "removed warroom_203.0.113.7 (203.0.113.7/32) from network group warroom-block; deleted host warroom_203.0.113.7" {
		t.Fatalf("Revert: %+v %v", r, err)
	}
	if got := strings.Join(f.ObjectNames(), ","); got != "warroom_198.51.100.0_24,warroom_2001_db8__1" {
		t.Errorf("objects after revert: %s", got)
	}
	if _, ok := f.GroupMembers("warroom-block")["192.0.2.255"]; !ok {
		t.Error("the group's own placeholder member was lost")
	}
	if len(f.Deployments()) != 0 {
		t.Errorf("deployed without deploy_devices: %v", f.Deployments())
	}
}

func TestDeploysToListedDevices(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	c := newConn(t, f, "deploy_devices: [ftd-edge-2]\n", connectors.Env{})
	r, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil {
		t.Fatal(err)
	}
	d := f.Deployments()
	if len(d) != 1 || len(d[0].Devices) != 1 || d[0].Devices[0] != f.DeviceID("ftd-edge-2") || d[0].Version == "" {
		t.Fatalf("deployments %+v", d)
	}
	if want := "; deployed to ftd-edge-2 (task " + d[0].TaskID + ")"; !strings.HasSuffix(r.Detail, want) {
		t.Errorf("Detail %q, want it to end with %q", r.Detail, want)
	}
	if f.TaskReads() != 2 {
		t.Errorf("%d task reads; want 2 (Deploying, then Deployed)", f.TaskReads())
	}
}

func TestDeploymentFollowedOnTheClock(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.SetDeployPolls(4)
	start := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	c := newConn(t, f, "deploy_devices: [ftd-edge-1]\n", connectors.Env{Clock: clk})
	var waits []time.Duration
	c.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		clk.Advance(d)
		return nil
	}
	r, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed {
		t.Fatalf("Execute %+v %v", r, err)
	}
	if len(waits) != 4 || waits[0] != deployPoll || f.TaskReads() != 5 {
		t.Errorf("waits %v, %d task reads; want four pauses of %s between five reads", waits, f.TaskReads(), deployPoll)
	}
	if got := clk.Now().Sub(start); got != 4*deployPoll {
		t.Errorf("the clock moved %s; want %s", got, 4*deployPoll)
	}
}

func TestFailedDeploymentIsPermanent(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.FailDeployments("Deployment to device ftd-edge-1 failed: interface inside is not configured")
	env, logs, _ := connectortest.NewEnv("fmc")
	c := newConn(t, f, "deploy_devices: [ftd-edge-1]\n", env)
	ctx := context.Background()
	_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	task := f.Deployments()[0].TaskID
	want := "cisco_fmc fmc: the group is updated but not deployed: deploying to ftd-edge-1: deployment task " + task +
		` ended "Failed": Deployment to device ftd-edge-1 failed: interface inside is not configured; the Management Center holds the change, fix the deployment there and deploy again`
	if err == nil || connectors.Retryable(err) || err.Error() != want {
		t.Fatalf("err = %v\nwant permanent %s", err, want)
	}
	if v, err := c.Verify(ctx, req(connectors.BlockIP, "203.0.113.7")); err != nil || !v.InPlace {
		t.Errorf("Verify after the failed deployment: %+v %v; the Management Center holds the change", v, err)
	}
	connectortest.AssertNoSecret(t, []string{connectortest.FMCPassword}, err.Error(), logs.String())
}

func TestDeploymentTimeoutIsRetryable(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.SetDeployPolls(-1)
	clk := clock.NewFake(time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC))
	c := newConn(t, f, "deploy_devices: [ftd-edge-1]\ndeploy_timeout: 1m\n", connectors.Env{Clock: clk})
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), `is still "Deploying" after 1m (deploy_timeout)`) {
		t.Fatalf("err = %v; want a retryable timeout", err)
	}
	if n := f.TaskReads(); n != 13 {
		t.Errorf("%d task reads in 1m at one per %s; want 13", n, deployPoll)
	}
	// The retry finds the group already holding the address: nothing to do again.
	r, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || r.Changed {
		t.Errorf("retry after the timeout: %+v %v; want an unchanged success", r, err)
	}
}

func TestDeploymentCanceledWhileWaiting(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.SetDeployPolls(-1)
	c := newConn(t, f, "deploy_devices: [ftd-edge-1]\n", connectors.Env{})
	ctx, cancel := context.WithCancel(context.Background())
	c.wait = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
	_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err = %v; want a retryable cancellation", err)
	}
}

func TestDeployTimeoutZeroStartsOnly(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	c := newConn(t, f, "deploy_devices: [ftd-edge-1]\ndeploy_timeout: 0s\n", connectors.Env{})
	r, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "; deployment task " + f.Deployments()[0].TaskID + " started on ftd-edge-1"; !strings.HasSuffix(r.Detail, want) || f.TaskReads() != 0 {
		t.Errorf("Detail %q with %d task reads; want %q and no read", r.Detail, f.TaskReads(), want)
	}
}

func TestTaskState(t *testing.T) {
	for _, tc := range []struct {
		status       string
		done, failed bool
	}{{"Deploying", false, false}, {"Deployed", true, false}, {"Failed", true, true}, {"RUNNING", false, false},
		{"SUCCESS", true, false}, {"FAILED", true, true}, {"", false, false}, {"Something new", false, false}} {
		if d, f := taskState(tc.status); d != tc.done || f != tc.failed {
			t.Errorf("taskState(%q) = %v, %v; want %v, %v", tc.status, d, f, tc.done, tc.failed)
		}
	}
}

func TestTokenRefreshedThenRegenerated(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	clk := clock.NewFake(time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC))
	c := newConn(t, f, "", connectors.Env{Clock: clk})
	ctx := context.Background()
	verify := func() {
		t.Helper()
		if _, err := c.Verify(ctx, req(connectors.BlockIP, "203.0.113.7")); err != nil {
			t.Fatal(err)
		}
	}
	verify()
	verify()
	if f.TokensIssued() != 1 || f.Refreshes() != 0 {
		t.Fatalf("%d tokens, %d refreshes; want the token cached", f.TokensIssued(), f.Refreshes())
	}
	// Access tokens last 30 minutes and can be refreshed three times.
	for i := 1; i <= 3; i++ {
		clk.Advance(30 * time.Minute)
		verify()
		if f.TokensIssued() != 1 || f.Refreshes() != i {
			t.Fatalf("after %d expiries: %d tokens, %d refreshes", i, f.TokensIssued(), f.Refreshes())
		}
	}
	clk.Advance(30 * time.Minute)
	verify()
	if f.TokensIssued() != 2 || f.Refreshes() != 3 {
		t.Fatalf("after the fourth expiry: %d tokens, %d refreshes; want a new token", f.TokensIssued(), f.Refreshes())
	}
	// An access token the server drops early is refreshed on the 401.
	f.ExpireAccessTokens()
	verify()
	if f.TokensIssued() != 2 || f.Refreshes() != 4 {
		t.Errorf("after a server-side expiry: %d tokens, %d refreshes", f.TokensIssued(), f.Refreshes())
	}
}

func TestAddressHeldByLiteral(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.AddGroupLiteral("warroom-block", "203.0.113.7")
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	before := f.Mutations()
	r, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || r.Changed || r.Detail != "203.0.113.7/32 is already in network group warroom-block as a literal" {
		t.Fatalf("Execute %+v %v", r, err)
	}
	if f.Mutations() != before {
		t.Error("an address already in the group got an object")
	}
	_, err = c.Revert(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "as a literal warroom did not add") {
		t.Errorf("Revert of a foreign literal: %v", err)
	}
}

func TestEmptyGroupRefusedBeforeTheCall(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.AddGroup(connectortest.FMCDomainUUID, "solo", "192.0.2.1")
	c := newConn(t, f, "", connectors.Env{})
	c.cfg.Group = "solo"
	ctx := context.Background()
	if _, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7")); err != nil {
		t.Fatal(err)
	}
	f.RemoveGroupLiteral("solo", "192.0.2.1")
	before := f.Mutations()
	_, err := c.Revert(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "would leave network group solo empty, which FMC refuses") {
		t.Fatalf("err = %v", err)
	}
	if f.Mutations() != before {
		t.Error("the refused revert changed something")
	}
}

func TestSubdomain(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.AddGroup(connectortest.FMCSubdomain, "eu-block", "192.0.2.1")
	c := newConn(t, f, "domain: Global/Europe\n", connectors.Env{})
	c.cfg.Group = "eu-block"
	if rd := c.Ready(context.Background()); !rd.OK() || rd.Message != "token for warroom-api; network group eu-block has 0 object(s) and 1 literal(s)" {
		t.Fatalf("Ready %+v", rd)
	}
	if _, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7")); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.GroupMembers("eu-block")["warroom_203.0.113.7"]; !ok {
		t.Error("not added in the subdomain")
	}
	bad := newConn(t, f, "domain: Global/Asia\n", connectors.Env{})
	rd := bad.Ready(context.Background())
	if rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed ||
		!strings.Contains(rd.Message, `domain "Global/Asia" is not one of the user's domains (Global, Global/Europe); fix domain`) {
		t.Errorf("Ready with an unknown domain: %+v", rd)
	}
}

func TestRefusedCredentials(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	f.RejectCredentials(true)
	c := newConn(t, f, "", connectors.Env{})
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	want := "cisco_fmc cisco_fmc: looking up network group warroom-block: getting a token: POST /api/fmc_platform/v1/auth/generatetoken answered 401 Unauthorized: Unauthorized"
	if err == nil || connectors.Retryable(err) || err.Error() != want {
		t.Fatalf("err = %v\nwant permanent %s", err, want)
	}
	if rd := c.Ready(context.Background()); rd.Authenticated != connectors.Failed || rd.Message != want {
		t.Errorf("Ready %+v", rd)
	}
}

func TestMissingGroup(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	c := newConn(t, f, "", connectors.Env{})
	c.cfg.Group = "nope"
	rd := c.Ready(context.Background())
	if rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed ||
		rd.Message != "cisco_fmc cisco_fmc: network group nope does not exist; create it (with at least one member) and use it in the block rule" {
		t.Errorf("Ready %+v", rd)
	}
}

func TestRateLimited(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	c := newConn(t, f, "", connectors.Env{})
	f.FailNext(429, 1)
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if d, ok := connectors.RetryAfter(err); !ok || d != time.Second || !strings.Contains(err.Error(), "answered 429 Too Many Requests: Too Many Requests: the rate limit of 120 requests per minute was exceeded") {
		t.Fatalf("err %v, retry after %v %v", err, d, ok)
	}
}

func TestUnknownCertificateIsPermanent(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	cfg, err := ParseConfig([]byte("url: " + f.URL + "\nuser: u\npassword_env: FMC_PASSWORD\ngroup: g\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(connectors.Env{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Verify(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.HasSuffix(err.Error(), "set ca_file to the CA that signed the server's certificate") {
		t.Fatalf("err = %v", err)
	}
	if f.TokensIssued() != 0 {
		t.Error("credentials were sent over an unverified connection")
	}
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	env, logs, _ := connectortest.NewEnv("fmc")
	cfg, err := ParseConfig([]byte("url: " + f.URL + "\nuser: " + connectortest.FMCUser + "\npassword_env: FMC_PASSWORD\ngroup: warroom-block\ninsecure_skip_verify: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"cisco_fmc: insecure_skip_verify is set") {
		t.Errorf("no warning logged: %s", logs)
	}
	if rd := c.Ready(context.Background()); !rd.OK() {
		t.Errorf("Ready %+v", rd)
	}
}

func TestUnreachable(t *testing.T) {
	cfg, err := ParseConfig([]byte("url: https://127.0.0.1:1\nuser: u\npassword_env: FMC_PASSWORD\ngroup: g\ntimeout: 2s\n"))
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
	if _, err := c.Verify(context.Background(), req(connectors.BlockIP, "203.0.113.7")); err == nil || !connectors.Retryable(err) {
		t.Errorf("Verify against nothing: %v", err)
	}
}

func TestPreview(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	c := newConn(t, f, "deploy_devices: [ftd-edge-1]\n", connectors.Env{})
	d, err := c.Preview(context.Background(), req(connectors.UnblockIP, "2001:db8::/64"))
	if err != nil {
		t.Fatal(err)
	}
	want := "remove warroom_2001_db8___64 from network group warroom-block\ndelete network warroom_2001_db8___64\ndeploy to ftd-edge-1"
	if d.String() != want {
		t.Errorf("Preview\n%s\nwant\n%s", d, want)
	}
	if f.TokensIssued() != 0 {
		t.Error("Preview contacted the server")
	}
}

func TestNewerVersion(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"9", "10", false}, {"5", "", true}, {"b", "a", true}} {
		if got := newerVersion(tc.a, tc.b); got != tc.want {
			t.Errorf("newerVersion(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestRetryStageRecoversFromRateLimit(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	clk := clock.NewFake(time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC))
	c := newConn(t, f, "", connectors.Env{Clock: clk})
	var waits []time.Duration
	policy := connectors.Policy{Clock: clk, Rand: func() float64 { return 0 }, Wait: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		clk.Advance(d)
		return nil
	}}
	rc := connectors.Resilient(c, policy, connectors.NewBreaker("fmc", connectors.BreakerConfig{}, clk))
	f.FailNext(429, 1)
	r, err := rc.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed {
		t.Fatalf("Execute through the retry stage: %+v %v", r, err)
	}
	if len(waits) != 1 || waits[0] != time.Second {
		t.Errorf("waits %v; want one wait of the Retry-After", waits)
	}
	if _, ok := f.GroupMembers("warroom-block")["warroom_203.0.113.7"]; !ok {
		t.Error("not blocked after the retry")
	}
}

func TestReadyWhenTheServerFails(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
	c := newConn(t, f, "", connectors.Env{})
	f.FailNext(503, 1)
	rd := c.Ready(context.Background())
	if rd.Reachable != connectors.Failed || rd.OK() || !strings.Contains(rd.Message, "answered 503 Service Unavailable") {
		t.Errorf("Ready %+v", rd)
	}
	if rd := c.Ready(context.Background()); !rd.OK() {
		t.Errorf("Ready once the server recovers: %+v", rd)
	}
}

func TestKeptObjectIsReused(t *testing.T) {
	f := connectortest.NewCiscoFMC(t)
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
		if err != nil || !r.Changed || strings.HasPrefix(r.Detail, "created") {
			t.Fatalf("re-block %s: %+v %v; want the kept object added back, not created again", target, r, err)
		}
	}
	if got := strings.Join(f.ObjectNames(), ","); got != "warroom_198.51.100.0_24,warroom_203.0.113.7" {
		t.Errorf("objects %s", got)
	}
}

func FuzzTaskStatus(f *testing.F) {
	f.Add([]byte(`{"id":"t1","type":"TaskStatus","status":"Deployed","message":"ok"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ts taskStatus
		if json.Unmarshal(b, &ts) != nil {
			return
		}
		if done, failed := taskState(ts.Status); failed && !done {
			t.Fatalf("status %q failed but not done", ts.Status)
		}
	})
}
