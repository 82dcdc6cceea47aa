package opnsense

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func build(t *testing.T, env connectors.Env, fake *connectortest.OPNsense, extra string) connectors.Connector {
	t.Helper()
	raw := fmt.Sprintf("url: %s\nca_file: %s\nkey_env: OPN_KEY\nsecret_env: OPN_SECRET\n", fake.URL, fake.CAFile)
	if !strings.Contains(extra, "alias:") {
		raw += "alias: warroom_block\n"
	}
	raw += extra
	env.LookupEnv = func(k string) (string, bool) {
		switch k {
		case "OPN_KEY":
			return fake.Key, true
		case "OPN_SECRET":
			return fake.Secret, true
		}
		return "", false
	}
	c, err := connectors.New("opnsense", []byte(raw), env)
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	return c
}

func req(kind connectors.ActionKind, target string, ttl time.Duration) connectors.Request {
	tg, err := connectors.ParseTarget(target)
	if err != nil {
		panic(err)
	}
	return connectors.Request{ActionID: "act-" + target, IdempotencyKey: "idem-" + target, Kind: kind, Target: tg, TTL: ttl}
}

func TestConformance(t *testing.T) {
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		fake := connectortest.NewOPNsense(t, "warroom_block")
		return connectortest.VendorSubject{
			Subject:   connectortest.Subject{Connector: build(t, env, fake, ""), Secrets: []string{fake.Key, fake.Secret}},
			Faults:    fake,
			Mutations: fake.Mutations,
		}
	})
}

func TestAddressFamiliesAndNetworks(t *testing.T) {
	fake := connectortest.NewOPNsense(t, "warroom_block")
	env, _, _ := connectortest.NewEnv("opn1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	for _, target := range []string{"2001:db8::30", "198.51.100.0/24", "2001:db8:1::/48"} {
		r := req(connectors.BlockIP, target, time.Hour)
		if res, err := c.Execute(ctx, r); err != nil || !res.Changed {
			t.Fatalf("%s: %+v %v", target, res, err)
		}
		if !fake.Contains("warroom_block", r.Target.Prefix) {
			t.Errorf("%s is not in the alias", target)
		}
		if v, err := c.Verify(ctx, r); err != nil || !v.InPlace || !v.Observed {
			t.Errorf("%s: Verify %+v %v", target, v, err)
		}
	}
}

func TestPresentElsewhereIsNotTouched(t *testing.T) {
	fake := connectortest.NewOPNsense(t, "warroom_block")
	fake.Add("warroom_block", netip.MustParsePrefix("203.0.113.31/32"))
	env, _, _ := connectortest.NewEnv("opn1")
	c := build(t, env, fake, "")
	res, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.31", time.Hour))
	if err != nil || res.Changed {
		t.Fatalf("Execute on an address already in the alias: %+v %v", res, err)
	}
	if fake.Mutations() != 0 {
		t.Errorf("%d state-changing calls; want none", fake.Mutations())
	}
}

func TestUnblockAndItsRevert(t *testing.T) {
	fake := connectortest.NewOPNsense(t, "warroom_block")
	p := netip.MustParsePrefix("203.0.113.32/32")
	fake.Add("warroom_block", p)
	env, _, _ := connectortest.NewEnv("opn1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.UnblockIP, "203.0.113.32", time.Hour)
	if res, err := c.Execute(ctx, r); err != nil || !res.Changed || fake.Contains("warroom_block", p) {
		t.Fatalf("unblock: %+v %v", res, err)
	}
	if res, err := c.Revert(ctx, r); err != nil || !res.Changed || !fake.Contains("warroom_block", p) {
		t.Fatalf("revert of the unblock: %+v %v", res, err)
	}
}

func TestMissingAlias(t *testing.T) {
	fake := connectortest.NewOPNsense(t, "warroom_block")
	env, _, _ := connectortest.NewEnv("opn1")
	c := build(t, env, fake, "alias: nosuch\n")
	ctx := context.Background()
	rd := c.Ready(ctx)
	if rd.Reachable != connectors.Passed || rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed ||
		!strings.Contains(rd.Message, "has no alias nosuch") {
		t.Errorf("Ready with a missing alias: %+v", rd)
	}
	_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.33", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Execute into a missing alias: %v; want a permanent error", err)
	}
}

func TestTLS(t *testing.T) {
	fake := connectortest.NewOPNsense(t, "warroom_block")
	ctx := context.Background()
	env, logs, _ := connectortest.NewEnv("opn1")
	env.LookupEnv = func(k string) (string, bool) {
		if k == "K" {
			return fake.Key, true
		}
		return fake.Secret, true
	}
	raw := fmt.Sprintf("url: %s\nkey_env: K\nsecret_env: S\nalias: warroom_block\n", fake.URL)
	c, err := connectors.New("opnsense", []byte(raw), env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Verify(ctx, req(connectors.BlockIP, "203.0.113.34", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("an untrusted certificate: %v; want a permanent error pointing at ca_file", err)
	}
	c, err = connectors.New("opnsense", []byte(raw+"insecure_skip_verify: true\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "insecure_skip_verify is set") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("insecure_skip_verify was not logged as a warning:\n%s", logs.String())
	}
	if rd := c.Ready(ctx); !rd.OK() || rd.Permitted != connectors.Passed {
		t.Errorf("insecure_skip_verify: %+v", rd)
	}
}

func TestDryRun(t *testing.T) {
	fake := connectortest.NewOPNsense(t, "warroom_block")
	env, _, _ := connectortest.NewEnv("opn1")
	c := build(t, env, fake, "dry_run: true\n")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.35", time.Hour)
	if res, err := c.Execute(ctx, r); err != nil || !res.DryRun || !res.Changed {
		t.Fatalf("dry-run Execute: %+v %v", res, err)
	}
	if fake.Contains("warroom_block", r.Target.Prefix) || fake.Mutations() != 0 {
		t.Error("dry run changed the firewall")
	}
}

func TestPreview(t *testing.T) {
	fake := connectortest.NewOPNsense(t, "warroom_block")
	env, _, _ := connectortest.NewEnv("opn1")
	c := build(t, env, fake, "")
	d, err := c.Preview(context.Background(), req(connectors.BlockIP, "203.0.113.36", 24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("add 203.0.113.36 to alias warroom_block (%s); OPNsense has no expiry, warroom deletes it after 24h", fake.URL)
	if d.String() != want {
		t.Errorf("Preview %q, want %q", d.String(), want)
	}
}

func TestParseList(t *testing.T) {
	got, err := parseList([]byte(`{"total":3,"rowCount":3,"current":1,"rows":[{"ip":"203.0.113.7"},{"ip":"2001:db8::/64"},{"ip":"not-an-ip"}]}`))
	if err != nil || len(got) != 2 || got[0] != netip.MustParsePrefix("203.0.113.7/32") || got[1] != netip.MustParsePrefix("2001:db8::/64") {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := parseList([]byte(`{"status":"failed"}`)); err == nil {
		t.Error("a failed status parsed as an empty alias")
	}
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte(`{"rows":[{"ip":"203.0.113.7"}]}`))
	f.Add([]byte(`{"status":"failed"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := parseList(b)
		for _, p := range list {
			if !p.IsValid() || connectors.CanonicalPrefix(p) != p {
				t.Fatalf("non-canonical %v", p)
			}
		}
		_ = err
	})
}
