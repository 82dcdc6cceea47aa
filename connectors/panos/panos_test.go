package panos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

// build returns a connector (keygen mode unless extra sets a key) talking to fake.
func build(t *testing.T, env connectors.Env, fake *connectortest.PANOS, extra string) connectors.Connector {
	t.Helper()
	raw := fmt.Sprintf("url: %s\nca_file: %s\n", fake.URL, fake.CAFile)
	if !strings.Contains(extra, "api_key_env") {
		raw += fmt.Sprintf("username: %s\npassword_env: PANOS_PASSWORD\n", fake.User)
	}
	raw += extra
	env.LookupEnv = func(k string) (string, bool) {
		switch k {
		case "PANOS_PASSWORD":
			return fake.Password, true
		case "PANOS_KEY":
			return staticKey, staticKey != ""
		}
		return "", false
	}
	c, err := connectors.New("panos", []byte(raw), env)
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	return c
}

var staticKey string

func req(kind connectors.ActionKind, target string, ttl time.Duration) connectors.Request {
	tg, err := connectors.ParseTarget(target)
	if err != nil {
		panic(err)
	}
	return connectors.Request{ActionID: "act-" + target, IdempotencyKey: "idem-" + target, Kind: kind, Target: tg, TTL: ttl}
}

func TestConformance(t *testing.T) {
	var fakes []*connectortest.PANOS
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		fake := connectortest.NewPANOS(t)
		fakes = append(fakes, fake)
		return connectortest.VendorSubject{
			Subject:   connectortest.Subject{Connector: build(t, env, fake, ""), Secrets: []string{fake.Password}},
			Faults:    fake,
			Mutations: fake.Mutations,
		}
	})
	if len(fakes) != 3 {
		t.Fatalf("the suite built %d connectors, want 3 (life cycle, dry run, faults)", len(fakes))
	}
}

// TestGeneratedKeyNeverShown runs a life cycle with a key expiry in the middle and
// checks neither the password nor any generated key shows in results, errors or logs.
func TestGeneratedKeyNeverShown(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	env, logs, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.9", time.Hour)
	var seen []string
	res, err := c.Execute(ctx, r)
	seen = append(seen, fmt.Sprintf("%+v %v", res, err))
	keyBefore := fake.IssueKey() // proves keys are distinct; not used by the connector
	fake.ExpireTokens()
	v, err := c.Verify(ctx, r)
	seen = append(seen, fmt.Sprintf("%+v %v", v, err))
	if err != nil || !v.InPlace {
		t.Fatalf("Verify after the key expired: %+v %v", v, err)
	}
	fake.RejectCredentials(true)
	_, err = c.Revert(ctx, r)
	seen = append(seen, fmt.Sprint(err))
	rd := c.Ready(ctx)
	seen = append(seen, fmt.Sprintf("%+v", rd))
	connectortest.AssertNoSecret(t, append(fake.Keys(), fake.Password, keyBefore), append(seen, logs.String())...)
	if len(fake.Keys()) < 3 {
		t.Errorf("the fake issued %d keys; want the connector to have generated a second one", len(fake.Keys()))
	}
}

func TestStaticKey(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	staticKey = fake.IssueKey()
	t.Cleanup(func() { staticKey = "" })
	env, logs, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "api_key_env: PANOS_KEY\n")
	ctx := context.Background()
	r := req(connectors.BlockIP, "198.51.100.4", 2*time.Hour)
	if res, err := c.Execute(ctx, r); err != nil || !res.Changed {
		t.Fatalf("Execute with a static key: %+v %v", res, err)
	}
	fake.ExpireTokens() // a static key cannot be renewed: the failure needs a human
	_, err := c.Verify(ctx, r)
	if err == nil || connectors.Retryable(err) {
		t.Fatalf("Verify with a revoked static key: %v; want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "Invalid Credential") {
		t.Errorf("the error does not carry the firewall's message: %v", err)
	}
	rd := c.Ready(ctx)
	if rd.Reachable != connectors.Passed || rd.Authenticated != connectors.Failed {
		t.Errorf("Ready with a revoked static key: %+v", rd)
	}
	connectortest.AssertNoSecret(t, []string{staticKey}, err.Error(), rd.Message, logs.String())
}

func TestTimeoutAndPersistence(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	env, _, clk := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "persistent: false\ntag: blocked by warroom\n")
	ctx := context.Background()
	start := time.Now()
	res, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.50", 90*time.Minute))
	if err != nil || !res.Changed {
		t.Fatal(res, err)
	}
	if want := clk.Now().Add(90 * time.Minute); !res.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt %v, want %v", res.ExpiresAt, want)
	}
	ok, exp := fake.Tagged("vsys1", "203.0.113.50", "blocked by warroom")
	if !ok {
		t.Fatal("the fake holds no registration")
	}
	if d := exp.Sub(start); d < 90*time.Minute-time.Minute || d > 90*time.Minute+time.Minute {
		t.Errorf("the tag times out after %s; want 1h30m", d)
	}
	if res.Detail != "registered tag blocked by warroom on 203.0.113.50 in vsys1, timeout 1h30m" {
		t.Errorf("Detail %q", res.Detail)
	}
	n := fake.Mutations()
	_, err = c.Execute(ctx, req(connectors.BlockIP, "203.0.113.51", 31*24*time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "30 days") {
		t.Errorf("a TTL over 30 days: %v; want a permanent error naming the limit", err)
	}
	if fake.Mutations() != n {
		t.Error("a refused TTL still reached the firewall")
	}
}

func TestAddressFamilies(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	for _, tc := range []struct{ target, registered string }{
		{"2001:db8::7", "2001:db8::7"},
		{"198.51.100.0/24", "198.51.100.0/24"},
	} {
		r := req(connectors.BlockIP, tc.target, time.Hour)
		if res, err := c.Execute(ctx, r); err != nil || !res.Changed {
			t.Fatalf("%s: %+v %v", tc.target, res, err)
		}
		if ok, _ := fake.Tagged("vsys1", tc.registered, "warroom-block"); !ok {
			t.Errorf("%s: the fake has no registration for %s", tc.target, tc.registered)
		}
		if v, err := c.Verify(ctx, r); err != nil || !v.InPlace || !v.Observed {
			t.Errorf("%s: Verify %+v %v", tc.target, v, err)
		}
	}
	_, err := c.Execute(ctx, req(connectors.BlockIP, "2001:db8::/64", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "IPv6 networks") {
		t.Errorf("an IPv6 network: %v; want a permanent refusal", err)
	}
}

func TestRegisteredElsewhereIsNotTouched(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	fake.Register("vsys1", "203.0.113.77", "warroom-block", 0)
	env, _, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "")
	res, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.77", time.Hour))
	if err != nil || res.Changed {
		t.Fatalf("Execute on an address already tagged: %+v %v; want an unchanged success", res, err)
	}
	if fake.Mutations() != 0 {
		t.Errorf("%d state-changing calls; want none", fake.Mutations())
	}
}

func TestUnblockAndItsRevert(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	fake.Register("vsys1", "203.0.113.78", "warroom-block", 0)
	env, _, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.UnblockIP, "203.0.113.78", time.Hour)
	if res, err := c.Execute(ctx, r); err != nil || !res.Changed {
		t.Fatalf("unblock: %+v %v", res, err)
	}
	if v, err := c.Verify(ctx, r); err != nil || !v.InPlace {
		t.Fatalf("Verify unblock: %+v %v", v, err)
	}
	if res, err := c.Revert(ctx, r); err != nil || !res.Changed {
		t.Fatalf("revert of the unblock: %+v %v", res, err)
	}
	if ok, _ := fake.Tagged("vsys1", "203.0.113.78", "warroom-block"); !ok {
		t.Error("reverting an unblock did not register the tag again")
	}
}

func TestVsys(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	fake.Vsys = []string{"vsys1", "vsys2"}
	env, _, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "vsys: vsys2\n")
	if _, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.60", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := fake.Tagged("vsys2", "203.0.113.60", "warroom-block"); !ok {
		t.Error("not registered in vsys2")
	}
	if ok, _ := fake.Tagged("vsys1", "203.0.113.60", "warroom-block"); ok {
		t.Error("registered in vsys1 too")
	}
	c3 := build(t, env, fake, "vsys: vsys3\n")
	_, err := c3.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.61", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "vsys3") {
		t.Errorf("an unknown vsys: %v; want a permanent error naming it", err)
	}
}

func TestTLS(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	ctx := context.Background()
	env, logs, _ := connectortest.NewEnv("fw1")
	env.LookupEnv = func(string) (string, bool) { return fake.Password, true }
	raw := fmt.Sprintf("url: %s\nusername: %s\npassword_env: P\n", fake.URL, fake.User)
	c, err := connectors.New("panos", []byte(raw), env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Verify(ctx, req(connectors.BlockIP, "203.0.113.62", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("an untrusted certificate: %v; want a permanent error pointing at ca_file", err)
	}
	if rd := c.Ready(ctx); rd.Reachable != connectors.Failed {
		t.Errorf("Ready with an untrusted certificate: %+v", rd)
	}
	c, err = connectors.New("panos", []byte(raw+"insecure_skip_verify: true\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "insecure_skip_verify is set") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("insecure_skip_verify was not logged as a warning:\n%s", logs.String())
	}
	if _, err := c.Verify(ctx, req(connectors.BlockIP, "203.0.113.62", time.Hour)); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}
	env.ReadFile = func(string) ([]byte, error) { return []byte("not a certificate"), nil }
	_, err = connectors.New("panos", []byte(raw+"ca_file: /etc/ca.pem\n"), env)
	if err == nil || !strings.Contains(err.Error(), "ca_file: /etc/ca.pem holds no PEM certificate") {
		t.Errorf("a ca_file without certificates: %v", err)
	}
}

func TestDryRun(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "dry_run: true\n")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.63", time.Hour)
	res, err := c.Execute(ctx, r)
	if err != nil || !res.DryRun || !res.Changed {
		t.Fatalf("dry-run Execute: %+v %v", res, err)
	}
	if v, _ := c.Verify(ctx, r); !v.DryRun || !v.InPlace {
		t.Errorf("dry-run Verify: %+v", v)
	}
	if fake.Mutations() != 0 || len(fake.Keys()) != 0 {
		t.Error("dry run contacted the firewall")
	}
}

func TestPreview(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "")
	d, err := c.Preview(context.Background(), req(connectors.BlockIP, "203.0.113.64", 24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("register tag warroom-block on 203.0.113.64 in vsys1 (%s/api/), timeout 24h", fake.URL)
	if d.String() != want {
		t.Errorf("Preview %q, want %q", d.String(), want)
	}
	if len(fake.Keys()) != 0 {
		t.Error("Preview contacted the firewall")
	}
}

func TestVendorErrors(t *testing.T) {
	tests := []struct {
		body      string
		retryable bool
		want      string
	}{
		{`<response status="error" code="17"><msg><line>show -> foo is unexpected</line></msg></response>`, false, "PAN-OS error 17: show -> foo is unexpected"},
		{`<response status="error" code="3"><result><msg>internal</msg></result></response>`, true, "PAN-OS error 3: internal"},
		{`<response status="error"><msg><line><uid-response><payload><register><entry ip="1.2.3.4" message="bad tag"/></register></payload></uid-response></line></msg></response>`, false, "PAN-OS error: bad tag"},
	}
	for _, tt := range tests {
		var ar apiResponse
		if err := parseAnswer([]byte(tt.body), &ar); err != nil {
			t.Fatal(err)
		}
		err := (&Firewall{name: "fw1", endpoint: "https://fw/api/"}).vendorError(ar, "op")
		if connectors.Retryable(err) != tt.retryable || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v (retryable %v); want %q retryable=%v", tt.body, err, connectors.Retryable(err), tt.want, tt.retryable)
		}
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte(`<response status="error" code="403"><result><msg>Invalid Credential</msg></result></response>`))
	f.Add([]byte(`<response status="success"><result><entry ip="1.2.3.4"><tag><member>t</member></tag></entry></result></response>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ar apiResponse
		if err := parseAnswer(b, &ar); err == nil {
			_ = ar.message()
		}
		var rr registeredResponse
		_ = parseAnswer(b, &rr)
	})
}

// TestConcurrentRekey: callers that find the cached key refused at the same time
// all carry on with a fresh key.
func TestConcurrentRekey(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.90", time.Hour)
	if _, err := c.Execute(ctx, r); err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			v, err := c.Verify(ctx, r)
			if err == nil && !v.InPlace {
				err = fmt.Errorf("not in place: %s", v.Detail)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
