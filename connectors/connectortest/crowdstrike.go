package connectortest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// CrowdStrikeOptions configures a fake Falcon API.
type CrowdStrikeOptions struct {
	// ClientID and ClientSecret are the API client the fake accepts (defaults below).
	ClientID, ClientSecret string
	// Scopes granted to the client: "hosts:read", "hosts:write" (default both).
	Scopes []string
	// TLS serves https with httptest's self-signed certificate (see CertPEM).
	TLS bool
	// PendingReads is how many device reads a containment change stays pending
	// (containment_pending, lift_containment_pending) before it completes (default 0:
	// the first read after the action sees it done).
	PendingReads int
	// TokenTTL is the lifetime of issued tokens (default 30m, answered as
	// expires_in 1799 like Falcon).
	TokenTTL time.Duration
}

// Default credentials of the fake vendors.
const (
	FalconClientID     = "0123456789abcdef0123456789abcdef"
	FalconClientSecret = "falcon-secret-Zq8vX2pL7rT4"
)

// CrowdStrike is a strict fake of the CrowdStrike Falcon API: OAuth2 client
// credentials (POST /oauth2/token), host queries (GET /devices/queries/devices/v1 with
// an FQL filter on hostname or local_ip), device entities (GET
// /devices/entities/devices/v2) and containment (POST
// /devices/entities/devices-actions/v2?action_name=contain|lift_containment with
// {"ids": [...]}). It keeps devices and their containment status, answers anything
// else with Falcon's {"meta", "resources", "errors"} envelope and fails the test on
// requests a client following the documentation would not send. It implements
// Faults.
type CrowdStrike struct {
	URL string

	tb   testing.TB
	srv  *httptest.Server
	opts CrowdStrikeOptions

	faults
	mu        sync.Mutex
	devices   map[string]*falconDevice
	tokens    map[string]time.Time // token → expiry
	issued    []string
	tokenReqs int
	reject    bool
	actions   []string // "contain <id>" in order
	scopes    map[string]bool
}

type falconDevice struct {
	ID       string `json:"device_id"`
	CID      string `json:"cid"`
	Hostname string `json:"hostname"`
	LocalIP  string `json:"local_ip"`
	Status   string `json:"status"`
	Platform string `json:"platform_name"`
	LastSeen string `json:"last_seen"`
	pending  int
}

var _ Faults = (*CrowdStrike)(nil)

// NewCrowdStrike starts a fake Falcon API on 127.0.0.1, closed when the test ends.
func NewCrowdStrike(tb testing.TB, opts CrowdStrikeOptions) *CrowdStrike {
	tb.Helper()
	if opts.ClientID == "" {
		opts.ClientID = FalconClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = FalconClientSecret
	}
	if opts.Scopes == nil {
		opts.Scopes = []string{"hosts:read", "hosts:write"}
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 30 * time.Minute
	}
	f := &CrowdStrike{tb: tb, opts: opts, devices: map[string]*falconDevice{}, tokens: map[string]time.Time{}, scopes: map[string]bool{}}
	for _, s := range opts.Scopes {
		f.scopes[s] = true
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are part of the TLS tests
	if opts.TLS {
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	f.URL = f.srv.URL
	tb.Cleanup(f.srv.Close)
	return f
}

// CertPEM returns the TLS server's certificate in PEM (for a ca_file).
func (f *CrowdStrike) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

// AddDevice registers a device in status normal and returns its id (32 hex digits).
func (f *CrowdStrike) AddDevice(hostname, localIP string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := randomHex(16)
	f.devices[id] = &falconDevice{ID: id, CID: strings.Repeat("c", 32), Hostname: hostname, LocalIP: localIP, Status: "normal",
		Platform: "Windows", LastSeen: "2026-01-01T00:00:00Z"}
	return id
}

// Status returns a device's containment status ("" for an unknown id), without
// advancing a pending change.
func (f *CrowdStrike) Status(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.devices[id]; ok {
		return d.Status
	}
	return ""
}

// Actions lists the accepted actions in order, as "contain <id>" or
// "lift_containment <id>".
func (f *CrowdStrike) Actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

// TokenRequests counts the token requests (accepted or not).
func (f *CrowdStrike) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenReqs
}

// IssuedTokens returns every access token handed out (to check none leaks).
func (f *CrowdStrike) IssuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

// SetScopes replaces the scopes of the API client ("hosts:read", "hosts:write").
func (f *CrowdStrike) SetScopes(scopes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scopes = map[string]bool{}
	for _, s := range scopes {
		f.scopes[s] = true
	}
}

// ExpireTokens implements Faults.
func (f *CrowdStrike) ExpireTokens() {
	f.mu.Lock()
	f.tokens = map[string]time.Time{}
	f.mu.Unlock()
}

// RejectCredentials implements Faults.
func (f *CrowdStrike) RejectCredentials(reject bool) {
	f.mu.Lock()
	f.reject = reject
	if reject {
		f.tokens = map[string]time.Time{}
	}
	f.mu.Unlock()
}

// falconError writes Falcon's error envelope.
func falconError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"meta":      map[string]any{"query_time": 0.000123, "powered_by": "crowdstrike-api-gateway", "trace_id": randomHex(8)},
		"resources": []any{},
		"errors":    []map[string]any{{"code": status, "message": msg}},
	})
}

func falconOK(w http.ResponseWriter, status int, resources any, pagination map[string]any) {
	meta := map[string]any{"query_time": 0.000456, "powered_by": "device-api", "trace_id": randomHex(8)}
	if pagination != nil {
		meta["pagination"] = pagination
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"meta": meta, "resources": resources, "errors": []any{}})
}

// strict reports a request a documented client would not send: the test fails and
// the client gets Falcon's 400 (or the given status).
func (f *CrowdStrike) strict(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.tb.Errorf("fake CrowdStrike: %s", msg)
	falconError(w, status, msg)
}

var fqlRE = regexp.MustCompile(`^(hostname|local_ip):'([^'\\]*)'$`)

func (f *CrowdStrike) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !f.delay(r) {
		return
	}
	if r.URL.Path == "/oauth2/token" {
		f.serveToken(w, r, body)
		return
	}
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /devices/queries/devices/v1", "GET /devices/entities/devices/v2", "POST /devices/entities/devices-actions/v2":
	default:
		f.strict(w, http.StatusNotFound, "no route %s", route)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		f.strict(w, http.StatusUnauthorized, "%s without an Authorization: Bearer header", route)
		return
	}
	if exp, valid := f.tokens[tok]; !valid || !time.Now().Before(exp) {
		falconError(w, http.StatusUnauthorized, "access denied, invalid bearer token")
		return
	}
	if code, ok := f.takeFailure(); ok {
		switch code {
		case http.StatusTooManyRequests:
			w.Header().Set("X-RateLimit-Limit", "6000")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-RetryAfter", strconv.FormatInt(time.Now().Unix()+1, 10))
			falconError(w, http.StatusTooManyRequests, "API rate limit exceeded.")
		default:
			falconError(w, code, http.StatusText(code))
		}
		return
	}
	switch route {
	case "GET /devices/queries/devices/v1":
		f.queryDevices(w, r)
	case "GET /devices/entities/devices/v2":
		f.getDevices(w, r)
	default:
		f.deviceAction(w, r, body)
	}
}

func (f *CrowdStrike) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		f.strict(w, http.StatusMethodNotAllowed, "%s /oauth2/token; the token endpoint takes POST", r.Method)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		f.strict(w, http.StatusBadRequest, "token request with Content-Type %q; want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		return
	}
	if r.URL.RawQuery != "" {
		f.strict(w, http.StatusBadRequest, "token request with a query string; credentials go in the form body")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.strict(w, http.StatusBadRequest, "token request body is not a form: %v", err)
		return
	}
	for k := range form {
		if k != "client_id" && k != "client_secret" && k != "member_cid" {
			f.strict(w, http.StatusBadRequest, "token request with unknown field %q", k)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenReqs++
	if f.reject || form.Get("client_id") != f.opts.ClientID || form.Get("client_secret") != f.opts.ClientSecret {
		falconError(w, http.StatusForbidden, "Failed to issue access token - Not Authorized")
		return
	}
	tok := randomHex(24)
	f.tokens[tok] = time.Now().Add(f.opts.TokenTTL)
	f.issued = append(f.issued, tok)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(f.opts.TokenTTL/time.Second) - 1})
}

func (f *CrowdStrike) needScope(w http.ResponseWriter, scope string) bool {
	if !f.scopes[scope] {
		falconError(w, http.StatusForbidden, "access denied, authorization failed")
		return false
	}
	return true
}

func (f *CrowdStrike) queryDevices(w http.ResponseWriter, r *http.Request) {
	if !f.needScope(w, "hosts:read") {
		return
	}
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "filter", "limit", "offset", "sort":
		default:
			f.strict(w, http.StatusBadRequest, "devices/v1 with unknown query parameter %q", k)
			return
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			falconError(w, http.StatusBadRequest, "limit must be an integer between 1 and 5000")
			return
		}
		limit = n
	}
	var field, value string
	if fl := q.Get("filter"); fl != "" {
		m := fqlRE.FindStringSubmatch(fl)
		if m == nil {
			f.strict(w, http.StatusBadRequest, "Invalid filter expression supplied: %q", fl)
			return
		}
		field, value = m[1], m[2]
	}
	ids := []string{}
	for _, d := range f.devices {
		if field == "" || (field == "hostname" && strings.EqualFold(d.Hostname, value)) || (field == "local_ip" && d.LocalIP == value) {
			ids = append(ids, d.ID)
		}
	}
	total := len(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	falconOK(w, http.StatusOK, ids, map[string]any{"offset": 0, "limit": limit, "total": total})
}

func (f *CrowdStrike) getDevices(w http.ResponseWriter, r *http.Request) {
	if !f.needScope(w, "hosts:read") {
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "ids" {
			f.strict(w, http.StatusBadRequest, "devices/v2 with unknown query parameter %q", k)
			return
		}
	}
	ids := q["ids"]
	if len(ids) == 0 {
		f.strict(w, http.StatusBadRequest, "devices/v2 without ids")
		return
	}
	out := []falconDevice{}
	for _, id := range ids {
		d, ok := f.devices[id]
		if !ok {
			continue
		}
		if d.pending > 0 {
			d.pending--
		} else {
			switch d.Status {
			case "containment_pending":
				d.Status = "contained"
			case "lift_containment_pending":
				d.Status = "normal"
			}
		}
		out = append(out, *d)
	}
	if len(out) == 0 {
		falconError(w, http.StatusNotFound, "No devices found for the given ids")
		return
	}
	falconOK(w, http.StatusOK, out, nil)
}

func (f *CrowdStrike) deviceAction(w http.ResponseWriter, r *http.Request, body []byte) {
	q := r.URL.Query()
	for k := range q {
		if k != "action_name" {
			f.strict(w, http.StatusBadRequest, "devices-actions/v2 with unknown query parameter %q", k)
			return
		}
	}
	action := q.Get("action_name")
	if action != "contain" && action != "lift_containment" {
		f.strict(w, http.StatusBadRequest, "devices-actions/v2: action_name %q is not contain or lift_containment", action)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		f.strict(w, http.StatusBadRequest, "devices-actions/v2 with Content-Type %q; want application/json", r.Header.Get("Content-Type"))
		return
	}
	var in struct {
		IDs []string `json:"ids"`
	}
	if err := decodeStrictJSON(body, &in); err != nil || len(in.IDs) == 0 {
		f.strict(w, http.StatusBadRequest, "devices-actions/v2 body %q is not {\"ids\": [...]} with at least one id", body)
		return
	}
	if !f.needScope(w, "hosts:write") {
		return
	}
	res := []map[string]string{}
	for _, id := range in.IDs {
		d, ok := f.devices[id]
		if !ok {
			falconError(w, http.StatusNotFound, fmt.Sprintf("Device %s not found", id))
			return
		}
		switch {
		case action == "contain" && (d.Status == "contained" || d.Status == "containment_pending"):
			falconError(w, http.StatusConflict, "Host is already contained or containment is pending")
			return
		case action == "lift_containment" && (d.Status == "normal" || d.Status == "lift_containment_pending"):
			falconError(w, http.StatusConflict, "Host is not contained")
			return
		}
	}
	for _, id := range in.IDs {
		d := f.devices[id]
		if action == "contain" {
			d.Status = "containment_pending"
		} else {
			d.Status = "lift_containment_pending"
		}
		d.pending = f.opts.PendingReads
		f.mutated()
		f.actions = append(f.actions, action+" "+id)
		res = append(res, map[string]string{"id": id, "path": ""})
	}
	falconOK(w, http.StatusAccepted, res, nil)
}
