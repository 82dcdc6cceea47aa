package connectortest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fwRecordTB records the Errorf calls a strict fake makes, so a test can check the
// fake flags a malformed request instead of failing itself.
type fwRecordTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *fwRecordTB) Errorf(format string, a ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

func (r *fwRecordTB) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.errs
	r.errs = nil
	return e
}

func fwTrustingClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the fake's CA file holds no certificate")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

type fwCall struct {
	name, method, path, body string
	header                   map[string]string
	status                   int
	contains                 string // in the answer
	flagged                  bool   // the fake must report the request as the connector's fault
}

func runFwCalls(t *testing.T, rec *fwRecordTB, client *http.Client, base string, calls []fwCall) {
	t.Helper()
	for _, c := range calls {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.contains) {
			t.Errorf("%s: %d %s; want %d with %q", c.name, resp.StatusCode, b, c.status, c.contains)
		}
		if errs := rec.take(); (len(errs) > 0) != c.flagged {
			t.Errorf("%s: the fake reported %q; want flagged=%v", c.name, errs, c.flagged)
		}
	}
}

func TestPANOSFakeIsStrict(t *testing.T) {
	rec := &fwRecordTB{TB: t}
	p := NewPANOS(rec)
	client := fwTrustingClient(t, p.CAFile)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	keygen := url.Values{"type": {"keygen"}, "user": {p.User}, "password": {p.Password}}.Encode()
	runFwCalls(t, rec, client, p.URL, []fwCall{
		{name: "keygen", method: "POST", path: "/api/", body: keygen, header: form, status: 200, contains: "<key>LUFRPT"},
		{name: "wrong password", method: "POST", path: "/api/", body: "type=keygen&user=" + p.User + "&password=nope", header: form,
			status: 403, contains: `<response status="error" code="403"><result><msg>Invalid Credential</msg>`},
		{name: "wrong path", method: "POST", path: "/restapi/", body: keygen, header: form, status: 404, flagged: true},
		{name: "keygen over GET", method: "GET", path: "/api/?" + keygen, status: 200, contains: "<key>", flagged: true},
		{name: "JSON body", method: "POST", path: "/api/", body: `{"type":"op"}`, header: map[string]string{"Content-Type": "application/json"},
			status: 400, contains: `status="error"`, flagged: true},
		{name: "no key", method: "POST", path: "/api/", body: "type=op&cmd=<show/>", header: form, status: 403, contains: "Invalid Credential"},
	})
	key := p.IssueKey()
	auth := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-PAN-KEY": key}
	reg := `<uid-message><version>2.0</version><type>update</type><payload><register><entry ip="203.0.113.7"><tag><member timeout="60">t1</member></tag></entry></register></payload></uid-message>`
	show := `<show><object><registered-ip><ip>203.0.113.7</ip></registered-ip></object></show>`
	runFwCalls(t, rec, client, p.URL, []fwCall{
		{name: "register", method: "POST", path: "/api/", body: url.Values{"type": {"user-id"}, "cmd": {reg}}.Encode(), header: auth, status: 200, contains: `status="success"`},
		{name: "register again", method: "POST", path: "/api/", body: url.Values{"type": {"user-id"}, "cmd": {reg}}.Encode(), header: auth,
			status: 200, contains: `message="tag t1 already exists, ignore"`},
		{name: "show", method: "POST", path: "/api/", body: url.Values{"type": {"op"}, "cmd": {show}}.Encode(), header: auth,
			status: 200, contains: `<entry ip="203.0.113.7" from_agent="0" persistent="1"><tag><member>t1</member></tag></entry><count>1</count>`},
		{name: "unknown payload element", method: "POST", path: "/api/", header: auth, status: 200, contains: `code="17"`, flagged: true,
			body: url.Values{"type": {"user-id"}, "cmd": {strings.Replace(reg, "<register>", "<login><entry name=\"u\" ip=\"1.2.3.4\"/></login><register>", 1)}}.Encode()},
		{name: "timeout too long", method: "POST", path: "/api/", header: auth, status: 200, contains: `code="17"`, flagged: true,
			body: url.Values{"type": {"user-id"}, "cmd": {strings.Replace(reg, `timeout="60"`, `timeout="2592001"`, 1)}}.Encode()},
		{name: "IPv6 network", method: "POST", path: "/api/", header: auth, status: 200, contains: `code="17"`, flagged: true,
			body: url.Values{"type": {"user-id"}, "cmd": {strings.Replace(reg, "203.0.113.7", "2001:db8::/64", 1)}}.Encode()},
		{name: "malformed XML", method: "POST", path: "/api/", header: auth, status: 200, contains: `code="18"`, flagged: true,
			body: url.Values{"type": {"user-id"}, "cmd": {"<uid-message>"}}.Encode()},
		{name: "other op command", method: "POST", path: "/api/", header: auth, status: 200, contains: "Invalid syntax", flagged: true,
			body: url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}}.Encode()},
		{name: "config request without an xpath", method: "POST", path: "/api/", header: auth, status: 200, contains: `Bad Xpath`, flagged: true,
			body: url.Values{"type": {"config"}, "action": {"get"}}.Encode()},
		{name: "unknown request type", method: "POST", path: "/api/", header: auth, status: 400, contains: `Illegal value for parameter`, flagged: true,
			body: url.Values{"type": {"report"}}.Encode()},
		{name: "unknown vsys", method: "POST", path: "/api/", header: auth, status: 200, contains: `code="12"`,
			body: url.Values{"type": {"op"}, "cmd": {show}, "vsys": {"vsys7"}}.Encode()},
	})
	if ok, exp := p.Tagged("vsys1", "203.0.113.7", "t1"); !ok || time.Until(exp) > time.Minute || time.Until(exp) < 50*time.Second {
		t.Errorf("registration %v until %v; want one timing out in 60s", ok, exp)
	}
	if p.Mutations() != 1 {
		t.Errorf("%d mutations, want 1 (the duplicate changed nothing)", p.Mutations())
	}
	p.ExpireTokens()
	runFwCalls(t, rec, client, p.URL, []fwCall{
		{name: "expired key", method: "POST", path: "/api/", body: url.Values{"type": {"op"}, "cmd": {show}}.Encode(), header: auth, status: 403, contains: "Invalid Credential"},
	})
	p.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if ok, _ := p.Tagged("vsys1", "203.0.113.7", "t1"); ok {
		t.Error("the tag outlived its timeout")
	}
}

func TestFortiGateFakeIsStrict(t *testing.T) {
	rec := &fwRecordTB{TB: t}
	g := NewFortiGate(rec)
	client := fwTrustingClient(t, g.CAFile)
	auth := map[string]string{"Authorization": "Bearer " + g.Token, "Content-Type": "application/json"}
	runFwCalls(t, rec, client, g.URL, []fwCall{
		{name: "ban", method: "POST", path: "/api/v2/monitor/user/banned/add_users?vdom=root", header: auth,
			body: `{"ip_addresses":["203.0.113.7","2001:db8::7"],"expiry":60}`, status: 200, contains: `"action":"add_users","status":"success"`},
		{name: "list", method: "GET", path: "/api/v2/monitor/user/banned?vdom=root", header: auth, status: 200,
			contains: `{"ip_address":"203.0.113.7","ipv6":false,`},
		{name: "no token", method: "GET", path: "/api/v2/monitor/user/banned?vdom=root", status: 401, contains: `"status":"error","http_status":401`, flagged: true},
		{name: "token as basic auth", method: "GET", path: "/api/v2/monitor/user/banned?vdom=root", header: map[string]string{"Authorization": "Basic " + g.Token},
			status: 401, flagged: true},
		{name: "token in the URL", method: "GET", path: "/api/v2/monitor/user/banned?vdom=root&access_token=" + g.Token, status: 401, flagged: true},
		{name: "no vdom", method: "GET", path: "/api/v2/monitor/user/banned", header: auth, status: 200, flagged: true},
		{name: "unknown vdom", method: "GET", path: "/api/v2/monitor/user/banned?vdom=lab", header: auth, status: 403, contains: `"http_status":403`},
		{name: "unknown field", method: "POST", path: "/api/v2/monitor/user/banned/add_users?vdom=root", header: auth,
			body: `{"ip_addresses":["203.0.113.8"],"expiry":60,"comment":"x"}`, status: 400, contains: `"http_status":400`, flagged: true},
		{name: "a network", method: "POST", path: "/api/v2/monitor/user/banned/add_users?vdom=root", header: auth,
			body: `{"ip_addresses":["203.0.113.0/24"]}`, status: 400, flagged: true},
		{name: "clear with expiry", method: "POST", path: "/api/v2/monitor/user/banned/clear_users?vdom=root", header: auth,
			body: `{"ip_addresses":["203.0.113.7"],"expiry":1}`, status: 400, flagged: true},
		{name: "address table listing", method: "GET", path: "/api/v2/cmdb/firewall/address?vdom=root", header: auth, status: 404, flagged: true},
		{name: "policy", method: "GET", path: "/api/v2/cmdb/firewall/policy/1?vdom=root", header: auth, status: 404, flagged: true},
		{name: "clear", method: "POST", path: "/api/v2/monitor/user/banned/clear_users?vdom=root", header: auth,
			body: `{"ip_addresses":["203.0.113.7"]}`, status: 200, contains: `"action":"clear_users"`},
	})
	if ok, _ := g.Banned("root", netip.MustParseAddr("203.0.113.7")); ok {
		t.Error("203.0.113.7 is still banned")
	}
	if ok, exp := g.Banned("root", netip.MustParseAddr("2001:db8::7")); !ok || exp.IsZero() {
		t.Errorf("2001:db8::7: %v until %v", ok, exp)
	}
	g.AddGroup("root", "addrgrp", "blk", "none")
	runFwCalls(t, rec, client, g.URL, []fwCall{
		{name: "create address", method: "POST", path: "/api/v2/cmdb/firewall/address?vdom=root", header: auth,
			body: `{"name":"w_1","type":"ipmask","subnet":"203.0.113.0 255.255.255.0","comment":"c"}`, status: 200, contains: `"path":"firewall","name":"address","action":"","mkey":"w_1","status":"success"`},
		{name: "duplicate address", method: "POST", path: "/api/v2/cmdb/firewall/address?vdom=root", header: auth,
			body: `{"name":"w_1","type":"ipmask","subnet":"203.0.113.0 255.255.255.0"}`, status: 500, contains: `"http_status":500,"error":-5`},
		{name: "host bits in subnet", method: "POST", path: "/api/v2/cmdb/firewall/address?vdom=root", header: auth,
			body: `{"name":"w_2","subnet":"203.0.113.1 255.255.255.0"}`, status: 400, flagged: true},
		{name: "IPv6 field on address", method: "POST", path: "/api/v2/cmdb/firewall/address?vdom=root", header: auth,
			body: `{"name":"w_3","ip6":"2001:db8::/64"}`, status: 400, flagged: true},
		{name: "read address", method: "GET", path: "/api/v2/cmdb/firewall/address/w_1?vdom=root", header: auth, status: 200, contains: `"subnet":"203.0.113.0 255.255.255.0"`},
		{name: "missing address", method: "GET", path: "/api/v2/cmdb/firewall/address/w_9?vdom=root", header: auth, status: 404, contains: `"error":-3`},
		{name: "join missing object", method: "POST", path: "/api/v2/cmdb/firewall/addrgrp/blk/member?vdom=root", header: auth, body: `{"name":"w_9"}`, status: 500, contains: `"error":-3`},
		{name: "join", method: "POST", path: "/api/v2/cmdb/firewall/addrgrp/blk/member?vdom=root", header: auth, body: `{"name":"w_1"}`, status: 200},
		{name: "join twice", method: "POST", path: "/api/v2/cmdb/firewall/addrgrp/blk/member?vdom=root", header: auth, body: `{"name":"w_1"}`, status: 500, contains: `"error":-5`},
		{name: "read group", method: "GET", path: "/api/v2/cmdb/firewall/addrgrp/blk?vdom=root", header: auth, status: 200,
			contains: `"member":[{"name":"none","q_origin_key":"none"},{"name":"w_1","q_origin_key":"w_1"}]`},
		{name: "delete address in use", method: "DELETE", path: "/api/v2/cmdb/firewall/address/w_1?vdom=root", header: auth, status: 500, contains: `"error":-23`},
		{name: "leave", method: "DELETE", path: "/api/v2/cmdb/firewall/addrgrp/blk/member/w_1?vdom=root", header: auth, status: 200},
		{name: "delete address", method: "DELETE", path: "/api/v2/cmdb/firewall/address/w_1?vdom=root", header: auth, status: 200},
		{name: "replace group", method: "PUT", path: "/api/v2/cmdb/firewall/addrgrp/blk?vdom=root", header: auth, body: `{"member":[]}`, status: 404, flagged: true},
	})
	if m := g.Members("root", "addrgrp", "blk"); len(m) != 1 || m[0] != "none" {
		t.Errorf("group members %v", m)
	}
	g.FailNext(429, 1)
	req, _ := http.NewRequest("GET", g.URL+"/api/v2/monitor/user/banned?vdom=root", nil)
	req.Header.Set("Authorization", "Bearer "+g.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || env["http_status"] != float64(429) {
		t.Errorf("FailNext(429): %d %q %v", resp.StatusCode, resp.Header.Get("Retry-After"), env)
	}
}

func TestOPNsenseFakeIsStrict(t *testing.T) {
	rec := &fwRecordTB{TB: t}
	o := NewOPNsense(rec, "warroom_block")
	client := fwTrustingClient(t, o.CAFile)
	basic := func(k, s string) map[string]string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(k, s)
		return map[string]string{"Authorization": r.Header.Get("Authorization"), "Content-Type": "application/json"}
	}
	auth := basic(o.Key, o.Secret)
	runFwCalls(t, rec, client, o.URL, []fwCall{
		{name: "add", method: "POST", path: "/api/firewall/alias_util/add/warroom_block", header: auth, body: `{"address":"203.0.113.7"}`, status: 200, contains: `{"status":"done"}`},
		{name: "add a network", method: "POST", path: "/api/firewall/alias_util/add/warroom_block", header: auth, body: `{"address":"2001:db8::/64"}`, status: 200, contains: "done"},
		{name: "list", method: "GET", path: "/api/firewall/alias_util/list/warroom_block", header: auth, status: 200,
			contains: `"rows":[{"ip":"2001:db8::/64"},{"ip":"203.0.113.7"}],"total":2`},
		{name: "aliases", method: "GET", path: "/api/firewall/alias_util/aliases", header: auth, status: 200, contains: `"virusprot","warroom_block"]`},
		{name: "wrong secret", method: "GET", path: "/api/firewall/alias_util/aliases", header: basic(o.Key, "nope"), status: 401,
			contains: `{"message":"Authentication Failed","status":401}`},
		{name: "bearer", method: "GET", path: "/api/firewall/alias_util/aliases", header: map[string]string{"Authorization": "Bearer " + o.Key}, status: 401, flagged: true},
		{name: "unknown alias", method: "POST", path: "/api/firewall/alias_util/add/nosuch", header: auth, body: `{"address":"203.0.113.8"}`, status: 200, contains: `"failed"`},
		{name: "form body", method: "POST", path: "/api/firewall/alias_util/add/warroom_block", header: map[string]string{"Authorization": auth["Authorization"], "Content-Type": "application/x-www-form-urlencoded"},
			body: "address=203.0.113.8", status: 200, contains: `"failed"`, flagged: true},
		{name: "extra field", method: "POST", path: "/api/firewall/alias_util/add/warroom_block", header: auth, body: `{"address":"203.0.113.8","ttl":3}`, status: 200, contains: `"failed"`, flagged: true},
		{name: "host bits", method: "POST", path: "/api/firewall/alias_util/add/warroom_block", header: auth, body: `{"address":"203.0.113.8/24"}`, status: 200, contains: `"failed"`, flagged: true},
		{name: "add over GET", method: "GET", path: "/api/firewall/alias_util/add/warroom_block", header: auth, status: 404, contains: "Endpoint not found", flagged: true},
		{name: "alias model", method: "GET", path: "/api/firewall/alias/searchItem", header: auth, status: 404, flagged: true},
		{name: "delete", method: "POST", path: "/api/firewall/alias_util/delete/warroom_block", header: auth, body: `{"address":"203.0.113.7"}`, status: 200, contains: "done"},
	})
	if o.Contains("warroom_block", netip.MustParsePrefix("203.0.113.7/32")) || !o.Contains("warroom_block", netip.MustParsePrefix("2001:db8::/64")) {
		t.Error("the alias does not hold what the calls left")
	}
	if o.Mutations() != 3 {
		t.Errorf("%d mutations, want 3", o.Mutations())
	}
}
