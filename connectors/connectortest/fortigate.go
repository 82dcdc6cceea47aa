package connectortest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// FortiGate is a strict fake of the FortiOS REST API's quarantine and address
// endpoints on 127.0.0.1 over HTTPS:
//
//	GET  /api/v2/monitor/user/banned?vdom=V
//	POST /api/v2/monitor/user/banned/add_users?vdom=V    {"ip_addresses": [...], "expiry": seconds}
//	POST /api/v2/monitor/user/banned/clear_users?vdom=V  {"ip_addresses": [...]}
//	GET|DELETE /api/v2/cmdb/firewall/address[6]/<name>?vdom=V
//	POST       /api/v2/cmdb/firewall/address[6]?vdom=V   {"name", "type", "subnet" | "ip6", "comment"}
//	GET        /api/v2/cmdb/firewall/addrgrp[6]/<name>?vdom=V
//	POST       /api/v2/cmdb/firewall/addrgrp[6]/<name>/member?vdom=V  {"name": <address>}
//	DELETE     /api/v2/cmdb/firewall/addrgrp[6]/<name>/member/<address>?vdom=V
//
// CMDB errors follow FortiOS: 404 for a missing entry, 500 with "error": -5 for a
// duplicate, -3 for a reference to a missing entry and -23 for deleting an entry
// still in use.
//
// It wants Authorization: Bearer <Token>, JSON bodies without unknown fields and a
// known vdom, keeps the bans per VDOM with their expiry, and answers in FortiOS's
// envelope ({"http_method", "results", "vdom", "path", "name", "action", "status",
// "serial", "version", "build"}); errors carry "status": "error" and "http_status".
// A request the connector should never send fails the test.
type FortiGate struct {
	URL    string // https://127.0.0.1:port
	CAFile string // PEM file holding the server certificate
	// Token is the REST API administrator's token the fake accepts.
	Token string
	// VDOMs lists the virtual domains (default root).
	VDOMs []string
	// Now is the fake's clock for ban expiry (default time.Now).
	Now func() time.Time

	faults
	tb      testing.TB
	mu      sync.Mutex
	bans    map[string]map[netip.Addr]fortiBan // vdom → address → ban
	objects map[string]map[string]fortiObject  // vdom → "address/<name>" or "address6/<name>"
	groups  map[string]map[string][]string     // vdom → "addrgrp/<name>" or "addrgrp6/<name>" → members
}

type fortiObject struct {
	prefix  netip.Prefix
	comment string
}

type fortiBan struct {
	created, expires time.Time // expires zero: indefinite
}

var _ Faults = (*FortiGate)(nil)

// NewFortiGate starts the fake, closed when the test ends.
func NewFortiGate(tb testing.TB) *FortiGate {
	tb.Helper()
	g := &FortiGate{Token: "fgt" + randomHex(15), VDOMs: []string{"root"}, Now: time.Now, tb: tb,
		bans: map[string]map[netip.Addr]fortiBan{}, objects: map[string]map[string]fortiObject{}, groups: map[string]map[string][]string{}}
	srv, ca := startTLSFake(tb, http.HandlerFunc(g.serve))
	g.URL, g.CAFile = srv.URL, ca
	return g
}

// ExpireTokens does nothing: a FortiOS REST API token is a long-lived key with no
// session to expire.
func (g *FortiGate) ExpireTokens() {}

// RejectCredentials makes the fake answer 401 to every request.
func (g *FortiGate) RejectCredentials(reject bool) { g.setReject(reject) }

// Ban quarantines addr in vdom directly, as an IPS sensor would (ttl 0: indefinite).
func (g *FortiGate) Ban(vdom string, addr netip.Addr, ttl time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.banLocked(vdom, addr, ttl)
}

func (g *FortiGate) banLocked(vdom string, addr netip.Addr, ttl time.Duration) {
	now := g.Now()
	var exp time.Time
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	if g.bans[vdom] == nil {
		g.bans[vdom] = map[netip.Addr]fortiBan{}
	}
	g.bans[vdom][addr] = fortiBan{created: now, expires: exp}
}

// Banned reports whether addr is quarantined in vdom, and until when.
func (g *FortiGate) Banned(vdom string, addr netip.Addr) (bool, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked()
	b, ok := g.bans[vdom][addr]
	return ok, b.expires
}

// AddGroup creates address group name (table addrgrp or addrgrp6) in vdom with the
// given members (address objects it creates too, as placeholders).
func (g *FortiGate) AddGroup(vdom, table, name string, members ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.groups[vdom] == nil {
		g.groups[vdom] = map[string][]string{}
	}
	if g.objects[vdom] == nil {
		g.objects[vdom] = map[string]fortiObject{}
	}
	objTable := "address"
	if table == "addrgrp6" {
		objTable = "address6"
	}
	for _, m := range members {
		if _, ok := g.objects[vdom][objTable+"/"+m]; !ok {
			g.objects[vdom][objTable+"/"+m] = fortiObject{}
		}
	}
	g.groups[vdom][table+"/"+name] = append([]string(nil), members...)
}

// AddObject creates address object name (table address or address6) holding p in
// vdom, as an administrator would.
func (g *FortiGate) AddObject(vdom, table, name string, p netip.Prefix) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.objects[vdom] == nil {
		g.objects[vdom] = map[string]fortiObject{}
	}
	g.objects[vdom][table+"/"+name] = fortiObject{prefix: p}
}

// Members returns the members of an address group, in order.
func (g *FortiGate) Members(vdom, table, name string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.groups[vdom][table+"/"+name]...)
}

// Object reports whether address object name exists in vdom (table address or
// address6) and what it holds.
func (g *FortiGate) Object(vdom, table, name string) (netip.Prefix, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.objects[vdom][table+"/"+name]
	return o.prefix, ok
}

func (g *FortiGate) expireLocked() {
	now := g.Now()
	for _, m := range g.bans {
		for a, b := range m {
			if !b.expires.IsZero() && !now.Before(b.expires) {
				delete(m, a)
			}
		}
	}
}

type fortiEnvelope struct {
	HTTPMethod string `json:"http_method"`
	Results    any    `json:"results,omitempty"`
	VDOM       string `json:"vdom,omitempty"`
	Path       string `json:"path"`
	Name       string `json:"name"`
	Action     string `json:"action"`
	Mkey       string `json:"mkey,omitempty"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      int    `json:"error,omitempty"`
	Serial     string `json:"serial"`
	Version    string `json:"version"`
	Build      int    `json:"build"`
}

func (g *FortiGate) answer(w http.ResponseWriter, r *http.Request, status int, action, vdom string, results any) {
	g.write(w, r, status, fortiEnvelope{Results: results, VDOM: vdom, Path: "user", Name: "banned", Action: action})
}

func (g *FortiGate) write(w http.ResponseWriter, r *http.Request, status int, env fortiEnvelope) {
	env.HTTPMethod, env.Status, env.Serial, env.Version, env.Build = r.Method, "success", "FGVM02TM24000000", "v7.4.3", 2573
	if status >= 300 {
		env.Status, env.HTTPStatus, env.Results = "error", status, nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

func (g *FortiGate) serve(w http.ResponseWriter, r *http.Request) {
	if !g.delay(r) {
		return
	}
	action := strings.TrimPrefix(r.URL.Path, "/api/v2/monitor/user/banned")
	action = strings.TrimPrefix(action, "/")
	if r.URL.Query().Has("access_token") {
		g.tb.Errorf("fortigate fake: access_token in the URL; send Authorization: Bearer")
	}
	if got := r.Header.Get("Authorization"); g.rejecting() || got != "Bearer "+g.Token {
		if !g.rejecting() && !strings.HasPrefix(got, "Bearer ") {
			g.tb.Errorf("fortigate fake: Authorization %q; want Bearer <token>", fwRedactAuth(got))
		}
		g.answer(w, r, http.StatusUnauthorized, action, "", nil)
		return
	}
	if code, ok := g.takeFailure(); ok {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		g.answer(w, r, code, action, "", nil)
		return
	}
	route := r.Method + " " + r.URL.Path
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v2/cmdb/firewall/"); ok {
		g.cmdb(w, r, rest)
		return
	}
	switch route {
	case "GET /api/v2/monitor/user/banned", "POST /api/v2/monitor/user/banned/add_users", "POST /api/v2/monitor/user/banned/clear_users":
	default:
		g.tb.Errorf("fortigate fake: %s is not a quarantine endpoint", route)
		g.answer(w, r, http.StatusNotFound, action, "", nil)
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "vdom" {
			g.tb.Errorf("fortigate fake: unexpected query parameter %q", k)
		}
	}
	vdom := q.Get("vdom")
	if vdom == "" {
		g.tb.Errorf("fortigate fake: %s without ?vdom=; the connector must name its VDOM", route)
		vdom = "root"
	}
	known := false
	for _, v := range g.VDOMs {
		known = known || v == vdom
	}
	if !known {
		g.answer(w, r, http.StatusForbidden, action, vdom, nil)
		return
	}
	if r.Method == http.MethodGet {
		g.list(w, r, vdom)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		g.tb.Errorf("fortigate fake: POST with Content-Type %q; want application/json", ct)
		g.answer(w, r, http.StatusBadRequest, action, vdom, nil)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		IPAddresses []string `json:"ip_addresses"`
		Expiry      *int64   `json:"expiry"`
	}
	if err := decodeStrictJSON(raw, &body); err != nil || len(body.IPAddresses) == 0 || (action == "clear_users" && body.Expiry != nil) ||
		(body.Expiry != nil && *body.Expiry < 0) {
		g.tb.Errorf("fortigate fake: %s body %s does not match the documented schema (%v)", action, raw, err)
		g.answer(w, r, http.StatusBadRequest, action, vdom, nil)
		return
	}
	var addrs []netip.Addr
	for _, s := range body.IPAddresses {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			g.tb.Errorf("fortigate fake: ip_addresses holds %q, not an IPv4 or IPv6 address", s)
			g.answer(w, r, http.StatusBadRequest, action, vdom, nil)
			return
		}
		addrs = append(addrs, a.Unmap())
	}
	g.mu.Lock()
	g.expireLocked()
	changed := false
	for _, a := range addrs {
		if action == "add_users" {
			var ttl time.Duration
			if body.Expiry != nil {
				ttl = time.Duration(*body.Expiry) * time.Second
			}
			g.banLocked(vdom, a, ttl)
			changed = true
		} else if _, ok := g.bans[vdom][a]; ok {
			delete(g.bans[vdom], a)
			changed = true
		}
	}
	g.mu.Unlock()
	if changed {
		g.mutated()
	}
	g.answer(w, r, http.StatusOK, action, vdom, map[string]any{})
}

func (g *FortiGate) list(w http.ResponseWriter, r *http.Request, vdom string) {
	type entry struct {
		IPAddress string `json:"ip_address"`
		IPv6      bool   `json:"ipv6"`
		Created   int64  `json:"created"`
		Expires   int64  `json:"expires"`
		Source    string `json:"source"`
	}
	g.mu.Lock()
	g.expireLocked()
	list := []entry{}
	for a, b := range g.bans[vdom] {
		e := entry{IPAddress: a.String(), IPv6: a.Is6(), Created: b.created.Unix(), Source: "admin"}
		if !b.expires.IsZero() {
			e.Expires = b.expires.Unix()
		}
		list = append(list, e)
	}
	g.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].IPAddress < list[j].IPAddress })
	g.answer(w, r, http.StatusOK, "", vdom, list)
}

// fwRedactAuth keeps the scheme of an Authorization header for messages.
func fwRedactAuth(h string) string {
	if i := strings.IndexByte(h, ' '); i > 0 {
		return h[:i] + " [redacted]"
	}
	if h == "" {
		return ""
	}
	return fmt.Sprintf("[%d characters]", len(h))
}

// vdomOf checks the vdom query parameter (and no other) and answers 403 for an
// unknown one; ok is false when it answered.
func (g *FortiGate) vdomOf(w http.ResponseWriter, r *http.Request, path, name string) (string, bool) {
	q := r.URL.Query()
	for k := range q {
		if k != "vdom" {
			g.tb.Errorf("fortigate fake: unexpected query parameter %q", k)
		}
	}
	vdom := q.Get("vdom")
	if vdom == "" {
		g.tb.Errorf("fortigate fake: %s %s without ?vdom=; the connector must name its VDOM", r.Method, r.URL.Path)
		vdom = "root"
	}
	for _, v := range g.VDOMs {
		if v == vdom {
			return vdom, true
		}
	}
	g.write(w, r, http.StatusForbidden, fortiEnvelope{VDOM: vdom, Path: path, Name: name})
	return "", false
}

func (g *FortiGate) cmdb(w http.ResponseWriter, r *http.Request, rest string) {
	segs := strings.Split(rest, "/")
	table := segs[0]
	env := fortiEnvelope{Path: "firewall", Name: table}
	fail := func(status, code int) {
		env.Error = code
		g.write(w, r, status, env)
	}
	bad := func(format string, a ...any) {
		g.tb.Errorf("fortigate fake: "+format, a...)
		fail(http.StatusBadRequest, 0)
	}
	var route string
	switch {
	case (table == "address" || table == "address6") && len(segs) == 1 && r.Method == http.MethodPost:
		route = "create object"
	case (table == "address" || table == "address6") && len(segs) == 2 && (r.Method == http.MethodGet || r.Method == http.MethodDelete):
		route = r.Method + " object"
	case (table == "addrgrp" || table == "addrgrp6") && len(segs) == 2 && r.Method == http.MethodGet:
		route = "GET group"
	case (table == "addrgrp" || table == "addrgrp6") && len(segs) == 3 && segs[2] == "member" && r.Method == http.MethodPost:
		route = "add member"
	case (table == "addrgrp" || table == "addrgrp6") && len(segs) == 4 && segs[2] == "member" && r.Method == http.MethodDelete:
		route = "remove member"
	default:
		g.tb.Errorf("fortigate fake: %s %s is not an address or address group endpoint the connector should use", r.Method, r.URL.Path)
		fail(http.StatusNotFound, 0)
		return
	}
	vdom, ok := g.vdomOf(w, r, "firewall", table)
	if !ok {
		return
	}
	env.VDOM = vdom
	var body map[string]any
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			bad("POST with Content-Type %q; want application/json", ct)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			bad("%s: body %s is not a JSON object", route, raw)
			return
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.objects[vdom] == nil {
		g.objects[vdom] = map[string]fortiObject{}
	}
	if g.groups[vdom] == nil {
		g.groups[vdom] = map[string][]string{}
	}
	switch route {
	case "create object":
		name, _ := body["name"].(string)
		allowed := map[string]bool{"name": true, "type": true, "comment": true, "subnet": table == "address", "ip6": table == "address6"}
		for k := range body {
			if !allowed[k] {
				bad("%s: field %q is not one of address's", table, k)
				return
			}
		}
		if name == "" || len(name) > 79 {
			bad("%s: name %q", table, name)
			return
		}
		var pf netip.Prefix
		var err error
		if table == "address" {
			if body["type"] != nil && body["type"] != "ipmask" {
				bad("address type %v; want ipmask", body["type"])
				return
			}
			sub, _ := body["subnet"].(string)
			pf, err = parseFortiSubnet(sub)
		} else {
			if body["type"] != nil && body["type"] != "ipprefix" {
				bad("address6 type %v; want ipprefix", body["type"])
				return
			}
			ip6, _ := body["ip6"].(string)
			pf, err = netip.ParsePrefix(ip6)
			if err == nil && (!pf.Addr().Is6() || pf.Masked() != pf) {
				err = fmt.Errorf("%q is not a masked IPv6 prefix", ip6)
			}
		}
		if err != nil {
			bad("%s %s: %v", table, name, err)
			return
		}
		if _, dup := g.objects[vdom][table+"/"+name]; dup {
			fail(http.StatusInternalServerError, -5)
			return
		}
		comment, _ := body["comment"].(string)
		g.objects[vdom][table+"/"+name] = fortiObject{prefix: pf, comment: comment}
		g.mutated()
		env.Mkey = name
		g.write(w, r, http.StatusOK, env)
	case "GET object":
		o, ok := g.objects[vdom][table+"/"+segs[1]]
		if !ok {
			fail(http.StatusNotFound, -3)
			return
		}
		res := map[string]any{"name": segs[1], "q_origin_key": segs[1], "comment": o.comment}
		if table == "address" {
			res["type"], res["subnet"] = "ipmask", fortiSubnet(o.prefix)
		} else {
			res["type"], res["ip6"] = "ipprefix", o.prefix.String()
		}
		env.Results, env.Mkey = []any{res}, segs[1]
		g.write(w, r, http.StatusOK, env)
	case "DELETE object":
		key := table + "/" + segs[1]
		if _, ok := g.objects[vdom][key]; !ok {
			fail(http.StatusNotFound, -3)
			return
		}
		for _, members := range g.groups[vdom] {
			for _, m := range members {
				if m == segs[1] {
					fail(http.StatusInternalServerError, -23)
					return
				}
			}
		}
		delete(g.objects[vdom], key)
		g.mutated()
		g.write(w, r, http.StatusOK, env)
	case "GET group":
		members, ok := g.groups[vdom][table+"/"+segs[1]]
		if !ok {
			fail(http.StatusNotFound, -3)
			return
		}
		list := []map[string]string{}
		for _, m := range members {
			list = append(list, map[string]string{"name": m, "q_origin_key": m})
		}
		env.Results, env.Mkey = []any{map[string]any{"name": segs[1], "q_origin_key": segs[1], "member": list}}, segs[1]
		g.write(w, r, http.StatusOK, env)
	case "add member":
		key := table + "/" + segs[1]
		members, ok := g.groups[vdom][key]
		if !ok {
			fail(http.StatusNotFound, -3)
			return
		}
		name, _ := body["name"].(string)
		if len(body) != 1 || name == "" {
			bad("member body %v; want {\"name\": <address>}", body)
			return
		}
		objTable := "address"
		if table == "addrgrp6" {
			objTable = "address6"
		}
		if _, ok := g.objects[vdom][objTable+"/"+name]; !ok {
			fail(http.StatusInternalServerError, -3)
			return
		}
		for _, m := range members {
			if m == name {
				fail(http.StatusInternalServerError, -5)
				return
			}
		}
		g.groups[vdom][key] = append(members, name)
		g.mutated()
		g.write(w, r, http.StatusOK, env)
	case "remove member":
		key := table + "/" + segs[1]
		members, ok := g.groups[vdom][key]
		if !ok {
			fail(http.StatusNotFound, -3)
			return
		}
		for i, m := range members {
			if m == segs[3] {
				g.groups[vdom][key] = append(members[:i:i], members[i+1:]...)
				g.mutated()
				g.write(w, r, http.StatusOK, env)
				return
			}
		}
		fail(http.StatusNotFound, -3)
	}
}

// parseFortiSubnet reads "203.0.113.7 255.255.255.255" (or "a.b.c.d/m.m.m.m").
func parseFortiSubnet(s string) (netip.Prefix, error) {
	f := strings.Fields(strings.ReplaceAll(s, "/", " "))
	if len(f) != 2 {
		return netip.Prefix{}, fmt.Errorf("subnet %q is not \"address mask\"", s)
	}
	a, err := netip.ParseAddr(f[0])
	m, merr := netip.ParseAddr(f[1])
	if err != nil || merr != nil || !a.Is4() || !m.Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet %q is not IPv4 \"address mask\"", s)
	}
	mb := m.As4()
	bits := 0
	for _, b := range mb {
		for i := 7; i >= 0; i-- {
			if b&(1<<i) == 0 {
				goto done
			}
			bits++
		}
	}
done:
	p := netip.PrefixFrom(a, bits)
	if fortiSubnet(p) != a.String()+" "+m.String() || p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("subnet %q has a non-contiguous mask or host bits set", s)
	}
	return p, nil
}

func fortiSubnet(p netip.Prefix) string {
	if !p.IsValid() {
		return "0.0.0.0 0.0.0.0"
	}
	var m [4]byte
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 1 << (7 - i%8)
	}
	return p.Addr().String() + " " + netip.AddrFrom4(m).String()
}
