package connectortest

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPANOSFakeIsStrict(t *testing.T) {
	rec := &RecordTB{TB: t}
	p := NewPANOS(rec)
	client := TrustingClient(t, p.CAFile)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	keygen := url.Values{"type": {"keygen"}, "user": {p.User}, "password": {p.Password}}.Encode()
	NewProbe(t, rec, client, p.URL).Run([]Call{
		{Name: "keygen", Method: "POST", Path: "/api/", Body: keygen, Header: form, Status: 200, Contains: "<key>LUFRPT"},
		{Name: "wrong password", Method: "POST", Path: "/api/", Body: "type=keygen&user=" + p.User + "&password=nope", Header: form,
			Status: 403, Contains: `<response status="error" code="403"><result><msg>Invalid Credential</msg>`},
		{Name: "wrong path", Method: "POST", Path: "/restapi/", Body: keygen, Header: form, Status: 404, Flagged: true},
		{Name: "keygen over GET", Method: "GET", Path: "/api/?" + keygen, Status: 200, Contains: "<key>", Flagged: true},
		{Name: "JSON body", Method: "POST", Path: "/api/", Body: `{"type":"op"}`, Header: map[string]string{"Content-Type": "application/json"},
			Status: 400, Contains: `status="error"`, Flagged: true},
		{Name: "no key", Method: "POST", Path: "/api/", Body: "type=op&cmd=<show/>", Header: form, Status: 403, Contains: "Invalid Credential"},
	})
	key := p.IssueKey()
	auth := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-PAN-KEY": key}
	reg := `<uid-message><version>2.0</version><type>update</type><payload><register><entry ip="203.0.113.7"><tag><member timeout="60">t1</member></tag></entry></register></payload></uid-message>`
	show := `<show><object><registered-ip><ip>203.0.113.7</ip></registered-ip></object></show>`
	NewProbe(t, rec, client, p.URL).Run([]Call{
		{Name: "register", Method: "POST", Path: "/api/", Body: url.Values{"type": {"user-id"}, "cmd": {reg}}.Encode(), Header: auth, Status: 200, Contains: `status="success"`},
		{Name: "register again", Method: "POST", Path: "/api/", Body: url.Values{"type": {"user-id"}, "cmd": {reg}}.Encode(), Header: auth,
			Status: 200, Contains: `message="tag t1 already exists, ignore"`},
		{Name: "show", Method: "POST", Path: "/api/", Body: url.Values{"type": {"op"}, "cmd": {show}}.Encode(), Header: auth,
			Status: 200, Contains: `<entry ip="203.0.113.7" from_agent="0" persistent="1"><tag><member>t1</member></tag></entry><count>1</count>`},
		{Name: "unknown payload element", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: `code="17"`, Flagged: true,
			Body: url.Values{"type": {"user-id"}, "cmd": {strings.Replace(reg, "<register>", "<login><entry name=\"u\" ip=\"1.2.3.4\"/></login><register>", 1)}}.Encode()},
		{Name: "timeout too long", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: `code="17"`, Flagged: true,
			Body: url.Values{"type": {"user-id"}, "cmd": {strings.Replace(reg, `timeout="60"`, `timeout="2592001"`, 1)}}.Encode()},
		{Name: "IPv6 network", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: `code="17"`, Flagged: true,
			Body: url.Values{"type": {"user-id"}, "cmd": {strings.Replace(reg, "203.0.113.7", "2001:db8::/64", 1)}}.Encode()},
		{Name: "malformed XML", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: `code="18"`, Flagged: true,
			Body: url.Values{"type": {"user-id"}, "cmd": {"<uid-message>"}}.Encode()},
		{Name: "other op command", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: "Invalid syntax", Flagged: true,
			Body: url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}}.Encode()},
		{Name: "config request without an xpath", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: `Bad Xpath`, Flagged: true,
			Body: url.Values{"type": {"config"}, "action": {"get"}}.Encode()},
		{Name: "unknown request type", Method: "POST", Path: "/api/", Header: auth, Status: 400, Contains: `Illegal value for parameter`, Flagged: true,
			Body: url.Values{"type": {"report"}}.Encode()},
		{Name: "unknown vsys", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: `code="12"`,
			Body: url.Values{"type": {"op"}, "cmd": {show}, "vsys": {"vsys7"}}.Encode()},
	})
	if ok, exp := p.Tagged("vsys1", "203.0.113.7", "t1"); !ok || time.Until(exp) > time.Minute || time.Until(exp) < 50*time.Second {
		t.Errorf("registration %v until %v; want one timing out in 60s", ok, exp)
	}
	if p.Mutations() != 1 {
		t.Errorf("%d mutations, want 1 (the duplicate changed nothing)", p.Mutations())
	}
	p.ExpireTokens()
	NewProbe(t, rec, client, p.URL).Run([]Call{
		{Name: "expired key", Method: "POST", Path: "/api/", Body: url.Values{"type": {"op"}, "cmd": {show}}.Encode(), Header: auth, Status: 403, Contains: "Invalid Credential"},
	})
	p.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if ok, _ := p.Tagged("vsys1", "203.0.113.7", "t1"); ok {
		t.Error("the tag outlived its timeout")
	}
}

func TestFortiGateFakeIsStrict(t *testing.T) {
	rec := &RecordTB{TB: t}
	g := NewFortiGate(rec)
	client := TrustingClient(t, g.CAFile)
	auth := map[string]string{"Authorization": "Bearer " + g.Token, "Content-Type": "application/json"}
	NewProbe(t, rec, client, g.URL).Run([]Call{
		{Name: "ban", Method: "POST", Path: "/api/v2/monitor/user/banned/add_users?vdom=root", Header: auth,
			Body: `{"ip_addresses":["203.0.113.7","2001:db8::7"],"expiry":60}`, Status: 200, Contains: `"action":"add_users","status":"success"`},
		{Name: "list", Method: "GET", Path: "/api/v2/monitor/user/banned?vdom=root", Header: auth, Status: 200,
			Contains: `{"ip_address":"203.0.113.7","ipv6":false,`},
		{Name: "no token", Method: "GET", Path: "/api/v2/monitor/user/banned?vdom=root", Status: 401, Contains: `"status":"error","http_status":401`, Flagged: true},
		{Name: "token as basic auth", Method: "GET", Path: "/api/v2/monitor/user/banned?vdom=root", Header: map[string]string{"Authorization": "Basic " + g.Token},
			Status: 401, Flagged: true},
		{Name: "token in the URL", Method: "GET", Path: "/api/v2/monitor/user/banned?vdom=root&access_token=" + g.Token, Status: 401, Flagged: true},
		{Name: "no vdom", Method: "GET", Path: "/api/v2/monitor/user/banned", Header: auth, Status: 200, Flagged: true},
		{Name: "unknown vdom", Method: "GET", Path: "/api/v2/monitor/user/banned?vdom=lab", Header: auth, Status: 403, Contains: `"http_status":403`},
		{Name: "unknown field", Method: "POST", Path: "/api/v2/monitor/user/banned/add_users?vdom=root", Header: auth,
			Body: `{"ip_addresses":["203.0.113.8"],"expiry":60,"comment":"x"}`, Status: 400, Contains: `"http_status":400`, Flagged: true},
		{Name: "a network", Method: "POST", Path: "/api/v2/monitor/user/banned/add_users?vdom=root", Header: auth,
			Body: `{"ip_addresses":["203.0.113.0/24"]}`, Status: 400, Flagged: true},
		{Name: "clear with expiry", Method: "POST", Path: "/api/v2/monitor/user/banned/clear_users?vdom=root", Header: auth,
			Body: `{"ip_addresses":["203.0.113.7"],"expiry":1}`, Status: 400, Flagged: true},
		{Name: "address table listing", Method: "GET", Path: "/api/v2/cmdb/firewall/address?vdom=root", Header: auth, Status: 404, Flagged: true},
		{Name: "policy", Method: "GET", Path: "/api/v2/cmdb/firewall/policy/1?vdom=root", Header: auth, Status: 404, Flagged: true},
		{Name: "clear", Method: "POST", Path: "/api/v2/monitor/user/banned/clear_users?vdom=root", Header: auth,
			Body: `{"ip_addresses":["203.0.113.7"]}`, Status: 200, Contains: `"action":"clear_users"`},
	})
	if ok, _ := g.Banned("root", netip.MustParseAddr("203.0.113.7")); ok {
		t.Error("203.0.113.7 is still banned")
	}
	if ok, exp := g.Banned("root", netip.MustParseAddr("2001:db8::7")); !ok || exp.IsZero() {
		t.Errorf("2001:db8::7: %v until %v", ok, exp)
	}
	g.AddGroup("root", "addrgrp", "blk", "none")
	NewProbe(t, rec, client, g.URL).Run([]Call{
		{Name: "create address", Method: "POST", Path: "/api/v2/cmdb/firewall/address?vdom=root", Header: auth,
			Body: `{"name":"w_1","type":"ipmask","subnet":"203.0.113.0 255.255.255.0","comment":"c"}`, Status: 200, Contains: `"path":"firewall","name":"address","action":"","mkey":"w_1","status":"success"`},
		{Name: "duplicate address", Method: "POST", Path: "/api/v2/cmdb/firewall/address?vdom=root", Header: auth,
			Body: `{"name":"w_1","type":"ipmask","subnet":"203.0.113.0 255.255.255.0"}`, Status: 500, Contains: `"http_status":500,"error":-5`},
		{Name: "host bits in subnet", Method: "POST", Path: "/api/v2/cmdb/firewall/address?vdom=root", Header: auth,
			Body: `{"name":"w_2","subnet":"203.0.113.1 255.255.255.0"}`, Status: 400, Flagged: true},
		{Name: "IPv6 field on address", Method: "POST", Path: "/api/v2/cmdb/firewall/address?vdom=root", Header: auth,
			Body: `{"name":"w_3","ip6":"2001:db8::/64"}`, Status: 400, Flagged: true},
		{Name: "read address", Method: "GET", Path: "/api/v2/cmdb/firewall/address/w_1?vdom=root", Header: auth, Status: 200, Contains: `"subnet":"203.0.113.0 255.255.255.0"`},
		{Name: "missing address", Method: "GET", Path: "/api/v2/cmdb/firewall/address/w_9?vdom=root", Header: auth, Status: 404, Contains: `"error":-3`},
		{Name: "join missing object", Method: "POST", Path: "/api/v2/cmdb/firewall/addrgrp/blk/member?vdom=root", Header: auth, Body: `{"name":"w_9"}`, Status: 500, Contains: `"error":-3`},
		{Name: "join", Method: "POST", Path: "/api/v2/cmdb/firewall/addrgrp/blk/member?vdom=root", Header: auth, Body: `{"name":"w_1"}`, Status: 200},
		{Name: "join twice", Method: "POST", Path: "/api/v2/cmdb/firewall/addrgrp/blk/member?vdom=root", Header: auth, Body: `{"name":"w_1"}`, Status: 500, Contains: `"error":-5`},
		{Name: "read group", Method: "GET", Path: "/api/v2/cmdb/firewall/addrgrp/blk?vdom=root", Header: auth, Status: 200,
			Contains: `"member":[{"name":"none","q_origin_key":"none"},{"name":"w_1","q_origin_key":"w_1"}]`},
		{Name: "delete address in use", Method: "DELETE", Path: "/api/v2/cmdb/firewall/address/w_1?vdom=root", Header: auth, Status: 500, Contains: `"error":-23`},
		{Name: "leave", Method: "DELETE", Path: "/api/v2/cmdb/firewall/addrgrp/blk/member/w_1?vdom=root", Header: auth, Status: 200},
		{Name: "delete address", Method: "DELETE", Path: "/api/v2/cmdb/firewall/address/w_1?vdom=root", Header: auth, Status: 200},
		{Name: "replace group", Method: "PUT", Path: "/api/v2/cmdb/firewall/addrgrp/blk?vdom=root", Header: auth, Body: `{"member":[]}`, Status: 404, Flagged: true},
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
	rec := &RecordTB{TB: t}
	o := NewOPNsense(rec, "warroom_block")
	client := TrustingClient(t, o.CAFile)
	basic := func(k, s string) map[string]string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(k, s)
		return map[string]string{"Authorization": r.Header.Get("Authorization"), "Content-Type": "application/json"}
	}
	auth := basic(o.Key, o.Secret)
	NewProbe(t, rec, client, o.URL).Run([]Call{
		{Name: "add", Method: "POST", Path: "/api/firewall/alias_util/add/warroom_block", Header: auth, Body: `{"address":"203.0.113.7"}`, Status: 200, Contains: `{"status":"done"}`},
		{Name: "add a network", Method: "POST", Path: "/api/firewall/alias_util/add/warroom_block", Header: auth, Body: `{"address":"2001:db8::/64"}`, Status: 200, Contains: "done"},
		{Name: "list", Method: "GET", Path: "/api/firewall/alias_util/list/warroom_block", Header: auth, Status: 200,
			Contains: `"rows":[{"ip":"2001:db8::/64"},{"ip":"203.0.113.7"}],"total":2`},
		{Name: "aliases", Method: "GET", Path: "/api/firewall/alias_util/aliases", Header: auth, Status: 200, Contains: `"virusprot","warroom_block"]`},
		{Name: "wrong secret", Method: "GET", Path: "/api/firewall/alias_util/aliases", Header: basic(o.Key, "nope"), Status: 401,
			Contains: `{"message":"Authentication Failed","status":401}`},
		{Name: "bearer", Method: "GET", Path: "/api/firewall/alias_util/aliases", Header: map[string]string{"Authorization": "Bearer " + o.Key}, Status: 401, Flagged: true},
		{Name: "unknown alias", Method: "POST", Path: "/api/firewall/alias_util/add/nosuch", Header: auth, Body: `{"address":"203.0.113.8"}`, Status: 200, Contains: `"failed"`},
		{Name: "form body", Method: "POST", Path: "/api/firewall/alias_util/add/warroom_block", Header: map[string]string{"Authorization": auth["Authorization"], "Content-Type": "application/x-www-form-urlencoded"},
			Body: "address=203.0.113.8", Status: 200, Contains: `"failed"`, Flagged: true},
		{Name: "extra field", Method: "POST", Path: "/api/firewall/alias_util/add/warroom_block", Header: auth, Body: `{"address":"203.0.113.8","ttl":3}`, Status: 200, Contains: `"failed"`, Flagged: true},
		{Name: "host bits", Method: "POST", Path: "/api/firewall/alias_util/add/warroom_block", Header: auth, Body: `{"address":"203.0.113.8/24"}`, Status: 200, Contains: `"failed"`, Flagged: true},
		{Name: "add over GET", Method: "GET", Path: "/api/firewall/alias_util/add/warroom_block", Header: auth, Status: 404, Contains: "Endpoint not found", Flagged: true},
		{Name: "alias model", Method: "GET", Path: "/api/firewall/alias/searchItem", Header: auth, Status: 404, Flagged: true},
		{Name: "delete", Method: "POST", Path: "/api/firewall/alias_util/delete/warroom_block", Header: auth, Body: `{"address":"203.0.113.7"}`, Status: 200, Contains: "done"},
	})
	if o.Contains("warroom_block", netip.MustParsePrefix("203.0.113.7/32")) || !o.Contains("warroom_block", netip.MustParsePrefix("2001:db8::/64")) {
		t.Error("the alias does not hold what the calls left")
	}
	if o.Mutations() != 3 {
		t.Errorf("%d mutations, want 3", o.Mutations())
	}
}
