package connectortest

import (
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
)

// OPNsense is a strict fake of OPNsense's alias utilities API on 127.0.0.1 over
// HTTPS:
//
//	GET  /api/firewall/alias_util/aliases            ["bogons", ..., "<alias>"]
//	GET  /api/firewall/alias_util/list/<alias>       {"total", "rowCount", "current", "rows": [{"ip": ...}]}
//	POST /api/firewall/alias_util/add/<alias>        {"address": "203.0.113.7"} → {"status": "done"}
//	POST /api/firewall/alias_util/delete/<alias>     {"address": "203.0.113.7"} → {"status": "done"}
//
// It wants HTTP basic authentication with Key and Secret (401 {"status": 401,
// "message": "Authentication Failed"} otherwise), answers {"status": "failed"} for
// an alias it does not hold or an address pf would not take, and 404
// {"errorMessage": "Endpoint not found", "errorTitle": "An error occurred"} for
// anything else, which also fails the test.
type OPNsense struct {
	URL    string // https://127.0.0.1:port
	CAFile string // PEM file holding the server certificate
	// Key and Secret are the API credentials the fake accepts.
	Key, Secret string

	faults
	tb      testing.TB
	mu      sync.Mutex
	aliases map[string]map[netip.Prefix]bool
}

var _ Faults = (*OPNsense)(nil)

// NewOPNsense starts the fake holding the given table aliases (and OPNsense's
// built-in bogons, bogonsv6, sshlockout and virusprot), closed when the test ends.
func NewOPNsense(tb testing.TB, aliases ...string) *OPNsense {
	tb.Helper()
	o := &OPNsense{Key: "opn" + randomHex(20), Secret: "sec" + randomHex(20), tb: tb, aliases: map[string]map[netip.Prefix]bool{}}
	for _, a := range append([]string{"bogons", "bogonsv6", "sshlockout", "virusprot"}, aliases...) {
		o.aliases[a] = map[netip.Prefix]bool{}
	}
	srv, ca := startTLSFake(tb, http.HandlerFunc(o.serve))
	o.URL, o.CAFile = srv.URL, ca
	return o
}

// ExpireTokens does nothing: OPNsense API keys are sent with every request and
// have no session to expire.
func (o *OPNsense) ExpireTokens() {}

// RejectCredentials makes the fake answer 401 to every request.
func (o *OPNsense) RejectCredentials(reject bool) { o.setReject(reject) }

// Add puts p in alias directly, as another rule or script would.
func (o *OPNsense) Add(alias string, p netip.Prefix) {
	o.mu.Lock()
	o.aliases[alias][p.Masked()] = true
	o.mu.Unlock()
}

// Contains reports whether alias holds p.
func (o *OPNsense) Contains(alias string, p netip.Prefix) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.aliases[alias][p.Masked()]
}

func opnJSON(w http.ResponseWriter, status int, v any) {
	writeJSONAs(w, "application/json; charset=UTF-8", status, v)
}

func (o *OPNsense) notFound(w http.ResponseWriter, r *http.Request) {
	o.tb.Errorf("opnsense fake: %s %s is not an alias_util endpoint the connector should call", r.Method, r.URL.Path)
	opnJSON(w, http.StatusNotFound, map[string]string{"errorMessage": "Endpoint not found", "errorTitle": "An error occurred"})
}

func (o *OPNsense) serve(w http.ResponseWriter, r *http.Request) {
	if !o.delay(r) {
		return
	}
	key, secret, ok := r.BasicAuth()
	if !ok && r.Header.Get("Authorization") != "" {
		o.tb.Errorf("opnsense fake: Authorization %q; want Basic key:secret", fwRedactAuth(r.Header.Get("Authorization")))
	}
	if !ok || key != o.Key || secret != o.Secret || o.rejecting() {
		opnJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "message": "Authentication Failed"})
		return
	}
	if code, ok := o.takeFailure(); ok {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		opnJSON(w, code, map[string]any{"status": code, "message": http.StatusText(code)})
		return
	}
	if r.URL.RawQuery != "" {
		o.tb.Errorf("opnsense fake: unexpected query %q", r.URL.RawQuery)
	}
	rest, found := strings.CutPrefix(r.URL.Path, "/api/firewall/alias_util/")
	if !found {
		o.notFound(w, r)
		return
	}
	cmd, alias, _ := strings.Cut(rest, "/")
	switch {
	case cmd == "aliases" && alias == "" && r.Method == http.MethodGet:
		o.mu.Lock()
		names := make([]string, 0, len(o.aliases))
		for n := range o.aliases {
			names = append(names, n)
		}
		o.mu.Unlock()
		sort.Strings(names)
		opnJSON(w, http.StatusOK, names)
	case cmd == "list" && alias != "" && r.Method == http.MethodGet:
		o.list(w, alias)
	case (cmd == "add" || cmd == "delete") && alias != "" && r.Method == http.MethodPost:
		o.change(w, r, cmd, alias)
	default:
		o.notFound(w, r)
	}
}

func (o *OPNsense) list(w http.ResponseWriter, alias string) {
	o.mu.Lock()
	set, ok := o.aliases[alias]
	rows := []map[string]string{}
	for p := range set {
		s := p.String()
		if p.IsSingleIP() {
			s = p.Addr().String()
		}
		rows = append(rows, map[string]string{"ip": s})
	}
	o.mu.Unlock()
	if !ok {
		opnJSON(w, http.StatusOK, map[string]string{"status": "failed"})
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i]["ip"] < rows[j]["ip"] })
	opnJSON(w, http.StatusOK, map[string]any{"total": len(rows), "rowCount": len(rows), "current": 1, "rows": rows})
}

func (o *OPNsense) change(w http.ResponseWriter, r *http.Request, cmd, alias string) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		o.tb.Errorf("opnsense fake: POST with Content-Type %q; want application/json", ct)
		opnJSON(w, http.StatusOK, map[string]string{"status": "failed"})
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		Address string `json:"address"`
	}
	if err := decodeStrictJSON(raw, &body); err != nil || body.Address == "" {
		o.tb.Errorf("opnsense fake: %s body %s; want {\"address\": ...} (%v)", cmd, raw, err)
		opnJSON(w, http.StatusOK, map[string]string{"status": "failed"})
		return
	}
	var p netip.Prefix
	if a, err := netip.ParseAddr(body.Address); err == nil && a.Zone() == "" {
		p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	} else if pf, err := netip.ParsePrefix(body.Address); err == nil && pf.Masked() == pf {
		p = pf
	} else {
		o.tb.Errorf("opnsense fake: address %q is neither an address nor a network", body.Address)
		opnJSON(w, http.StatusOK, map[string]string{"status": "failed"})
		return
	}
	o.mu.Lock()
	set, ok := o.aliases[alias]
	changed := false
	if ok {
		changed = set[p] != (cmd == "add")
		if cmd == "add" {
			set[p] = true
		} else {
			delete(set, p)
		}
	}
	o.mu.Unlock()
	if !ok {
		opnJSON(w, http.StatusOK, map[string]string{"status": "failed"})
		return
	}
	if changed {
		o.mutated()
	}
	opnJSON(w, http.StatusOK, map[string]string{"status": "done"})
}
