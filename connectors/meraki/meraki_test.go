package meraki

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func secretsEnv(env connectors.Env) connectors.Env {
	env.LookupEnv = func(k string) (string, bool) {
		return connectortest.MerakiAPIKey, k == "MERAKI_KEY"
	}
	return env
}

func newConn(t *testing.T, f *connectortest.Meraki, extra string, env connectors.Env) *Meraki {
	t.Helper()
	cfg, err := ParseConfig([]byte("base_url: " + f.URL + "\nca_file: " + f.CAFile + "\napi_key_env: MERAKI_KEY\norganization_id: \"" +
		connectortest.MerakiOrgID + "\"\ngroup: warroom-block\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(env))
	if err != nil {
		t.Fatal(err)
	}
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
		f := connectortest.NewMeraki(t)
		c := newConn(t, f, "", env)
		return connectortest.VendorSubject{Subject: connectortest.Subject{Connector: c, Secrets: []string{connectortest.MerakiAPIKey}},
			Faults: f, Mutations: f.Mutations}
	})
}

func TestLegacyHeaderConformance(t *testing.T) {
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		f := connectortest.NewMeraki(t)
		c := newConn(t, f, "auth_header: x-cisco-meraki-api-key\n", env)
		return connectortest.VendorSubject{Subject: connectortest.Subject{Connector: c, Secrets: []string{connectortest.MerakiAPIKey}},
			Faults: f, Mutations: f.Mutations}
	})
}

func TestBlockCreatesObjectInGroup(t *testing.T) {
	f := connectortest.NewMeraki(t)
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	r, err := c.Execute(ctx, req(connectors.BlockIP, "198.51.100.0/24"))
	if err != nil || !r.Changed || r.Detail != "created policy object warroom_198.51.100.0_24 (198.51.100.0/24) in group warroom-block" {
		t.Fatalf("Execute %+v %v", r, err)
	}
	if got := f.GroupCIDRs("warroom-block"); got["warroom_198.51.100.0_24"] != "198.51.100.0/24" {
		t.Errorf("group %v", got)
	}
	r, err = c.Revert(ctx, req(connectors.BlockIP, "198.51.100.0/24"))
	if err != nil || !r.Changed || r.Detail != "removed warroom_198.51.100.0_24 (198.51.100.0/24) from policy object group warroom-block; deleted policy object warroom_198.51.100.0_24" {
		t.Fatalf("Revert %+v %v", r, err)
	}
	if n := len(f.ObjectNames()); n != 0 {
		t.Errorf("%d objects left", n)
	}
}

func TestObjectOutsideGroupIsReused(t *testing.T) {
	f := connectortest.NewMeraki(t)
	f.AddObject("elsewhere", "warroom_203.0.113.7", "203.0.113.7/32")
	c := newConn(t, f, "", connectors.Env{})
	r, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || !r.Changed || r.Detail != "added warroom_203.0.113.7 (203.0.113.7/32) to policy object group warroom-block" {
		t.Fatalf("Execute %+v %v", r, err)
	}
	if len(f.ObjectNames()) != 1 {
		t.Errorf("objects %v; want the existing one reused", f.ObjectNames())
	}
}

func TestAddressHeldByAnotherObject(t *testing.T) {
	f := connectortest.NewMeraki(t)
	f.AddObject("warroom-block", "known-bad", "203.0.113.7")
	c := newConn(t, f, "", connectors.Env{})
	ctx := context.Background()
	r, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err != nil || r.Changed || r.Detail != "203.0.113.7/32 is already in policy object group warroom-block as known-bad" {
		t.Fatalf("Execute %+v %v", r, err)
	}
	if f.Mutations() != 0 {
		t.Error("an address already in the group got a second object")
	}
	_, err = c.Revert(ctx, req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "as known-bad, which warroom did not create") {
		t.Errorf("Revert %v", err)
	}
}

func TestPagingFollowsLink(t *testing.T) {
	f := connectortest.NewMeraki(t)
	for i := range 12 {
		f.AddGroup("filler-" + string(rune('a'+i)))
	}
	for i := range 7000 {
		f.AddObject("filler-a", "obj-"+strconv.Itoa(i), "192.0.2.1")
	}
	f.AddObject("warroom-block", "late", "203.0.113.9")
	c := newConn(t, f, "", connectors.Env{})
	v, err := c.Verify(context.Background(), req(connectors.BlockIP, "203.0.113.9"))
	if err != nil || !v.InPlace || v.Detail != "policy object group warroom-block holds 203.0.113.9/32 as late" {
		t.Fatalf("Verify %+v %v; want the object from the second page", v, err)
	}
}

func TestIPv6Refused(t *testing.T) {
	f := connectortest.NewMeraki(t)
	c := newConn(t, f, "", connectors.Env{})
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "2001:db8::1"))
	if err == nil || connectors.Retryable(err) || err.Error() != "meraki: 2001:db8::1/128: policy objects hold IPv4 addresses and CIDRs only; block IPv6 another way" {
		t.Fatalf("err = %v", err)
	}
	if f.Mutations() != 0 {
		t.Error("changed something")
	}
}

func TestRefusedKey(t *testing.T) {
	f := connectortest.NewMeraki(t)
	f.RejectCredentials(true)
	c := newConn(t, f, "", connectors.Env{})
	want := "meraki meraki: looking up policy object group warroom-block: GET /organizations/549236/policyObjects/groups answered 401 Unauthorized: Invalid API key"
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if err == nil || connectors.Retryable(err) || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if rd := c.Ready(context.Background()); rd.Authenticated != connectors.Failed || rd.Message != want {
		t.Errorf("Ready %+v", rd)
	}
}

func TestMissingGroupAndOrganization(t *testing.T) {
	f := connectortest.NewMeraki(t)
	c := newConn(t, f, "", connectors.Env{})
	c.cfg.Group = "nope"
	if rd := c.Ready(context.Background()); rd.Permitted != connectors.Failed || rd.Authenticated != connectors.Passed ||
		rd.Message != "meraki meraki: policy object group nope does not exist in organization 549236; create it and deny it in the firewall rules" {
		t.Errorf("Ready %+v", rd)
	}
	c2 := newConn(t, f, "", connectors.Env{})
	c2.org = c2.base + "/organizations/111"
	if rd := c2.Ready(context.Background()); rd.Permitted != connectors.Failed || !strings.Contains(rd.Message, "answered 404 Not Found: Organization not found") {
		t.Errorf("Ready for another organization %+v", rd)
	}
}

func TestRateLimited(t *testing.T) {
	f := connectortest.NewMeraki(t)
	c := newConn(t, f, "", connectors.Env{})
	f.FailNext(429, 1)
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7"))
	if d, ok := connectors.RetryAfter(err); !ok || d != time.Second || !strings.Contains(err.Error(), "answered 429 Too Many Requests: API rate limit exceeded for organization") {
		t.Fatalf("err %v, retry after %v %v", err, d, ok)
	}
}

func TestUnknownCertificateIsPermanent(t *testing.T) {
	f := connectortest.NewMeraki(t)
	cfg, err := ParseConfig([]byte("base_url: " + f.URL + "\napi_key_env: MERAKI_KEY\norganization_id: '1'\ngroup: g\n"))
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
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	f := connectortest.NewMeraki(t)
	env, logs, _ := connectortest.NewEnv("mx")
	cfg, err := ParseConfig([]byte("base_url: " + f.URL + "\napi_key_env: MERAKI_KEY\norganization_id: '" + connectortest.MerakiOrgID + "'\ngroup: warroom-block\ninsecure_skip_verify: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"meraki: insecure_skip_verify is set") {
		t.Errorf("no warning logged: %s", logs)
	}
	if rd := c.Ready(context.Background()); !rd.OK() {
		t.Errorf("Ready %+v", rd)
	}
}

func TestUnreachable(t *testing.T) {
	cfg, err := ParseConfig([]byte("base_url: https://127.0.0.1:1/api/v1\napi_key_env: MERAKI_KEY\norganization_id: '1'\ngroup: g\ntimeout: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, secretsEnv(connectors.Env{}))
	if err != nil {
		t.Fatal(err)
	}
	if rd := c.Ready(context.Background()); rd.Reachable != connectors.Failed || !strings.Contains(rd.Message, "connection refused") {
		t.Errorf("Ready %+v", rd)
	}
	if _, err := c.Verify(context.Background(), req(connectors.BlockIP, "203.0.113.7")); err == nil || !connectors.Retryable(err) {
		t.Errorf("Verify against nothing: %v", err)
	}
}

func TestPreview(t *testing.T) {
	f := connectortest.NewMeraki(t)
	c := newConn(t, f, "delete_objects: false\n", connectors.Env{})
	d, err := c.Preview(context.Background(), req(connectors.UnblockIP, "203.0.113.7"))
	if err != nil || d.String() != "remove warroom_203.0.113.7 from policy object group warroom-block" {
		t.Fatalf("Preview %q %v", d, err)
	}
}

func TestNextLinkStaysOnTheAPIHost(t *testing.T) {
	f := connectortest.NewMeraki(t)
	c := newConn(t, f, "", connectors.Env{})
	h := map[string][]string{"Link": {"<https://evil.example/api/v1/x?startingAfter=1>; rel=next"}}
	if got := c.nextLink(h); got != "" {
		t.Errorf("followed a Link to another host: %s", got)
	}
	h = map[string][]string{"Link": {"<" + f.URL + "/organizations/1/policyObjects?startingAfter=1>; rel=first, <" + f.URL + "/organizations/1/policyObjects?startingAfter=9>; rel=next"}}
	if got := c.nextLink(h); got != f.URL+"/organizations/1/policyObjects?startingAfter=9" {
		t.Errorf("nextLink = %q", got)
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add("<https://127.0.0.1/api/v1/organizations/1/policyObjects?startingAfter=9>; rel=next")
	f.Add(`<x>; rel="next", <y>; rel=prev`)
	c := &Meraki{base: "https://127.0.0.1/api/v1"}
	f.Fuzz(func(t *testing.T, v string) {
		got := c.nextLink(http.Header{"Link": {v}})
		if u, err := url.Parse(got); got != "" && (err != nil || u.Scheme != "https" || u.Host != "127.0.0.1") {
			t.Fatalf("nextLink(%q) = %q leaves the API host", v, got)
		}
	})
}

func TestReadyWhenTheServerFails(t *testing.T) {
	f := connectortest.NewMeraki(t)
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
