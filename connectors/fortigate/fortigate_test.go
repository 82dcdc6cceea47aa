package fortigate

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

func build(t *testing.T, env connectors.Env, fake *connectortest.FortiGate, extra string) connectors.Connector {
	t.Helper()
	raw := fmt.Sprintf("url: %s\nca_file: %s\ntoken_env: FGT_TOKEN\n%s", fake.URL, fake.CAFile, extra)
	env.LookupEnv = func(k string) (string, bool) { return fake.Token, k == "FGT_TOKEN" }
	c, err := connectors.New("fortigate", []byte(raw), env)
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
		fake := connectortest.NewFortiGate(t)
		return connectortest.VendorSubject{
			Subject:   connectortest.Subject{Connector: build(t, env, fake, ""), Secrets: []string{fake.Token}},
			Faults:    fake,
			Mutations: fake.Mutations,
		}
	})
}

func TestExpiryAndIPv6(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	env, _, clk := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	start := time.Now()
	for _, target := range []string{"203.0.113.20", "2001:db8::20"} {
		res, err := c.Execute(ctx, req(connectors.BlockIP, target, 2*time.Hour))
		if err != nil || !res.Changed {
			t.Fatalf("%s: %+v %v", target, res, err)
		}
		if want := clk.Now().Add(2 * time.Hour); !res.ExpiresAt.Equal(want) {
			t.Errorf("%s: ExpiresAt %v, want %v", target, res.ExpiresAt, want)
		}
		ok, exp := fake.Banned("root", netip.MustParseAddr(target))
		if !ok {
			t.Fatalf("%s is not banned on the fake", target)
		}
		if d := exp.Sub(start); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
			t.Errorf("%s: the ban expires after %s; want 2h", target, d)
		}
		v, err := c.Verify(ctx, req(connectors.BlockIP, target, 2*time.Hour))
		if err != nil || !v.InPlace || !v.Observed || v.ExpiresAt.IsZero() {
			t.Errorf("%s: Verify %+v %v", target, v, err)
		}
	}
	_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.0/24", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "single addresses") {
		t.Errorf("a network: %v; want a permanent refusal", err)
	}
}

func TestNoTTLBansIndefinitely(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	env, _, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, "")
	res, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.21", 0))
	if err != nil || !res.Changed || !res.ExpiresAt.IsZero() || !strings.HasSuffix(res.Detail, "no expiry") {
		t.Fatalf("%+v %v", res, err)
	}
	if ok, exp := fake.Banned("root", netip.MustParseAddr("203.0.113.21")); !ok || !exp.IsZero() {
		t.Errorf("banned %v until %v; want an indefinite ban", ok, exp)
	}
}

func TestBannedElsewhereIsNotTouched(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	fake.Ban("root", netip.MustParseAddr("203.0.113.22"), time.Hour)
	env, _, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, "")
	res, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.22", 3*time.Hour))
	if err != nil || res.Changed || res.ExpiresAt.IsZero() {
		t.Fatalf("Execute on a banned address: %+v %v; want unchanged with the existing expiry", res, err)
	}
	if fake.Mutations() != 0 {
		t.Errorf("%d state-changing calls; want none", fake.Mutations())
	}
}

func TestUnblockAndItsRevert(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	a := netip.MustParseAddr("203.0.113.23")
	fake.Ban("root", a, 0)
	env, _, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.UnblockIP, a.String(), time.Hour)
	if res, err := c.Execute(ctx, r); err != nil || !res.Changed {
		t.Fatalf("unblock: %+v %v", res, err)
	}
	if ok, _ := fake.Banned("root", a); ok {
		t.Fatal("still banned")
	}
	if res, err := c.Revert(ctx, r); err != nil || !res.Changed {
		t.Fatalf("revert of the unblock: %+v %v", res, err)
	}
	if ok, _ := fake.Banned("root", a); !ok {
		t.Error("reverting an unblock did not ban again")
	}
}

func TestVDOM(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	fake.VDOMs = []string{"root", "dmz"}
	env, _, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, "vdom: dmz\n")
	a := netip.MustParseAddr("203.0.113.24")
	if _, err := c.Execute(context.Background(), req(connectors.BlockIP, a.String(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := fake.Banned("dmz", a); !ok {
		t.Error("not banned in vdom dmz")
	}
	if ok, _ := fake.Banned("root", a); ok {
		t.Error("banned in vdom root too")
	}
	other := build(t, env, fake, "vdom: lab\n")
	_, err := other.Execute(context.Background(), req(connectors.BlockIP, a.String(), time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "403") {
		t.Errorf("an unknown vdom: %v; want a permanent 403", err)
	}
	rd := other.Ready(context.Background())
	if rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed {
		t.Errorf("Ready for an unknown vdom: %+v; want authenticated, not permitted", rd)
	}
}

func TestTLS(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	ctx := context.Background()
	env, logs, _ := connectortest.NewEnv("fgt1")
	env.LookupEnv = func(string) (string, bool) { return fake.Token, true }
	raw := fmt.Sprintf("url: %s\ntoken_env: T\n", fake.URL)
	c, err := connectors.New("fortigate", []byte(raw), env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Verify(ctx, req(connectors.BlockIP, "203.0.113.25", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("an untrusted certificate: %v; want a permanent error pointing at ca_file", err)
	}
	if rd := c.Ready(ctx); rd.Reachable != connectors.Failed {
		t.Errorf("Ready with an untrusted certificate: %+v", rd)
	}
	c, err = connectors.New("fortigate", []byte(raw+"insecure_skip_verify: true\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "insecure_skip_verify is set") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("insecure_skip_verify was not logged as a warning:\n%s", logs.String())
	}
	if _, err := c.Verify(ctx, req(connectors.BlockIP, "203.0.113.25", time.Hour)); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}
}

func TestDryRun(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	env, _, _ := connectortest.NewEnv("fgt1")
	env.DryRun = true
	c := build(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.26", time.Hour)
	res, err := c.Execute(ctx, r)
	if err != nil || !res.DryRun || !res.Changed {
		t.Fatalf("dry-run Execute: %+v %v", res, err)
	}
	if ok, _ := fake.Banned("root", netip.MustParseAddr("203.0.113.26")); ok || fake.Mutations() != 0 {
		t.Error("dry run changed the FortiGate")
	}
}

func TestPreview(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	env, _, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, "")
	d, err := c.Preview(context.Background(), req(connectors.BlockIP, "203.0.113.27", 24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("quarantine 203.0.113.27 in vdom root (%s), expiry 24h", fake.URL); d.String() != want {
		t.Errorf("Preview %q, want %q", d.String(), want)
	}
}

func TestParseBanned(t *testing.T) {
	list, err := parseBanned([]byte(`{"http_method":"GET","results":[{"ip_address":"2001:db8::1","ipv6":true,"created":1700000000,"expires":0,"source":"ips"}],"status":"success"}`))
	if err != nil || len(list) != 1 || list[0].IPAddress != "2001:db8::1" || !list[0].IPv6 || list[0].Expires != 0 {
		t.Fatalf("%+v %v", list, err)
	}
	if _, err := parseBanned([]byte(`{"status":"error","http_status":403}`)); err == nil {
		t.Error("an error envelope parsed as a list")
	}
	if _, err := parseBanned([]byte(`{"status":"success","results":{"a":1}}`)); err == nil {
		t.Error("an object parsed as a list")
	}
}

func FuzzParseBanned(f *testing.F) {
	f.Add([]byte(`{"status":"success","results":[{"ip_address":"203.0.113.7","expires":1}]}`))
	f.Add([]byte(`{"status":"success","results":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := parseBanned(b)
		if err != nil && list != nil {
			t.Fatalf("an error with a list: %v", err)
		}
	})
}

func groupFake(t *testing.T) *connectortest.FortiGate {
	fake := connectortest.NewFortiGate(t)
	fake.AddGroup("root", "addrgrp", "warroom-block", "none")
	fake.AddGroup("root", "addrgrp6", "warroom-block6", "none6")
	return fake
}

const groupMode = "mode: address_group\ngroup: warroom-block\ngroup6: warroom-block6\n"

func TestConformanceAddressGroup(t *testing.T) {
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		fake := groupFake(t)
		return connectortest.VendorSubject{
			Subject:   connectortest.Subject{Connector: build(t, env, fake, groupMode), Secrets: []string{fake.Token}},
			Faults:    fake,
			Mutations: fake.Mutations,
		}
	})
}

func TestAddressGroupObjects(t *testing.T) {
	fake := groupFake(t)
	env, logs, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, groupMode)
	ctx := context.Background()
	for _, tc := range []struct{ target, table, group, object, grpTable string }{
		{"203.0.113.40", "address", "warroom-block", "warroom_203.0.113.40_32", "addrgrp"},
		{"198.51.100.0/24", "address", "warroom-block", "warroom_198.51.100.0_24", "addrgrp"},
		{"2001:db8::40", "address6", "warroom-block6", "warroom_2001-db8--40_128", "addrgrp6"},
	} {
		r := req(connectors.BlockIP, tc.target, time.Hour)
		r.ActionID = "act-77"
		res, err := c.Execute(ctx, r)
		if err != nil || !res.Changed || !res.ExpiresAt.IsZero() {
			t.Fatalf("%s: %+v %v", tc.target, res, err)
		}
		if p, ok := fake.Object("root", tc.table, tc.object); !ok || p != r.Target.Prefix {
			t.Errorf("%s: object %s holds %v (%v)", tc.target, tc.object, p, ok)
		}
		if m := fake.Members("root", tc.grpTable, tc.group); len(m) != 2 || m[1] != tc.object {
			t.Errorf("%s: group members %v", tc.target, m)
		}
		if v, err := c.Verify(ctx, r); err != nil || !v.InPlace || !v.Observed {
			t.Errorf("%s: Verify %+v %v", tc.target, v, err)
		}
		if res, err := c.Revert(ctx, r); err != nil || !res.Changed {
			t.Fatalf("%s: Revert %+v %v", tc.target, res, err)
		}
		if _, ok := fake.Object("root", tc.table, tc.object); ok {
			t.Errorf("%s: the object outlived the revert", tc.target)
		}
		if m := fake.Members("root", tc.grpTable, tc.group); len(m) != 1 {
			t.Errorf("%s: group members after revert %v", tc.target, m)
		}
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("unexpected warnings:\n%s", logs.String())
	}
}

func TestAddressGroupReusesAndGuardsObjects(t *testing.T) {
	fake := groupFake(t)
	env, logs, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, groupMode)
	ctx := context.Background()
	// An object of warroom's name that holds another address is not touched.
	fake.AddGroup("root", "addrgrp", "other", "warroom_203.0.113.41_32")
	_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.41", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "does not hold 203.0.113.41/32") {
		t.Fatalf("a same-named object holding something else: %v; want a permanent refusal", err)
	}
	// One holding the same address is reused: only the membership is added.
	fake.AddObject("root", "address", "warroom_203.0.113.44_32", netip.MustParsePrefix("203.0.113.44/32"))
	n := fake.Mutations()
	res, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.44", time.Hour))
	if err != nil || !res.Changed || fake.Mutations() != n+1 {
		t.Fatalf("Execute with a matching object: %+v %v, %d mutations; want one (the membership)", res, err, fake.Mutations()-n)
	}
	// An object still used elsewhere stays when the block is lifted, with a warning.
	fake2 := groupFake(t)
	c2 := build(t, env, fake2, groupMode)
	r := req(connectors.BlockIP, "203.0.113.42", time.Hour)
	if _, err := c2.Execute(ctx, r); err != nil {
		t.Fatal(err)
	}
	fake2.AddGroup("root", "addrgrp", "audit", "warroom_203.0.113.42_32")
	res, err = c2.Revert(ctx, r)
	if err != nil || !res.Changed || !strings.Contains(res.Detail, "the address object stays") {
		t.Fatalf("Revert with the object in use elsewhere: %+v %v", res, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Error("the kept object was not logged as a warning")
	}
	if v, err := c2.Verify(ctx, r); err != nil || v.InPlace {
		t.Errorf("Verify after the revert: %+v %v", v, err)
	}
}

func TestAddressGroupReadiness(t *testing.T) {
	fake := connectortest.NewFortiGate(t)
	env, _, _ := connectortest.NewEnv("fgt1")
	c := build(t, env, fake, "mode: address_group\ngroup: missing\n")
	rd := c.Ready(context.Background())
	if rd.Reachable != connectors.Passed || rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed ||
		!strings.Contains(rd.Message, "create the address group") {
		t.Errorf("Ready with a missing group: %+v", rd)
	}
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "2001:db8::43", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "no group6") {
		t.Errorf("IPv6 without group6: %v", err)
	}
}

func TestParseGroup(t *testing.T) {
	set, err := parseGroup([]byte(`{"status":"success","results":[{"name":"g","member":[{"name":"a","q_origin_key":"a"}]}]}`))
	if err != nil || !set["a"] || len(set) != 1 {
		t.Fatalf("%v %v", set, err)
	}
	if _, err := parseGroup([]byte(`{"status":"success","results":[]}`)); err == nil {
		t.Error("no group parsed")
	}
}

func FuzzParseGroup(f *testing.F) {
	f.Add([]byte(`{"status":"success","results":[{"member":[{"name":"a"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := parseGroup(b)
		if err != nil && set != nil {
			t.Fatal("an error with a result")
		}
	})
}
