package connectortest

import (
	"encoding/base64"
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

// DefenderOptions configures a fake Defender for Endpoint API and its Entra ID token
// endpoint.
type DefenderOptions struct {
	// TenantID, ClientID and ClientSecret are the app registration the fake accepts
	// (defaults below).
	TenantID, ClientID, ClientSecret string
	// Scope the token request must ask for (default
	// https://api.securitycenter.microsoft.com/.default).
	Scope string
	// Roles are the application permissions in issued tokens (default Machine.Isolate
	// and Machine.Read.All).
	Roles []string
	// TLS serves both endpoints over https with httptest's certificate (see CertPEM).
	TLS bool
	// PendingReads is how many machine-action reads a new action stays Pending before
	// it succeeds (default 0: the first read sees it Succeeded).
	PendingReads int
	// TokenTTL is the lifetime of issued tokens (default 1h, answered as expires_in
	// 3599).
	TokenTTL time.Duration
}

// Default app registration of the fake Defender.
const (
	DefenderTenantID     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	DefenderClientID     = "4a7c6a8e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
	DefenderClientSecret = "mde~Secret.8Qx_vN3kL0pR7tY2"
)

// Defender is a strict fake of Microsoft Defender for Endpoint: the Entra ID v2.0
// token endpoint (POST /{tenant}/oauth2/v2.0/token, client credentials) on LoginURL,
// and on URL the machines list with an OData $filter on computerDnsName (eq or
// startswith) or lastIpAddress, POST /api/machines/{id}/isolate ({"Comment",
// "IsolationType"}) and /unisolate ({"Comment"}), and GET /api/machineactions with
// $filter=machineId eq '...'. It keeps machines and machine actions, enforces the
// token's application roles, refuses a second action of a type still pending with
// 400 ActiveRequestAlreadyExists, answers errors as {"error": {"code", "message"}}
// (Entra ID: {"error", "error_description", "error_codes"}) and fails the test on
// requests a client following the documentation would not send. It implements Faults.
type Defender struct {
	URL      string // the API
	LoginURL string // the Entra ID authority

	tb    testing.TB
	api   *httptest.Server
	login *httptest.Server
	opts  DefenderOptions

	faults
	mu        sync.Mutex
	machines  map[string]*mdMachine
	actions   []*mdAction
	tokens    map[string]time.Time
	issued    []string
	tokenReqs int
	reject    bool
	roles     []string
	seq       int
}

type mdMachine struct {
	ID                    string   `json:"id"`
	ComputerDNSName       string   `json:"computerDnsName"`
	FirstSeen             string   `json:"firstSeen"`
	LastSeen              string   `json:"lastSeen"`
	OSPlatform            string   `json:"osPlatform"`
	Version               string   `json:"version"`
	LastIPAddress         string   `json:"lastIpAddress"`
	LastExternalIPAddress string   `json:"lastExternalIpAddress"`
	HealthStatus          string   `json:"healthStatus"`
	OnboardingStatus      string   `json:"onboardingStatus"`
	RiskScore             string   `json:"riskScore"`
	ExposureLevel         string   `json:"exposureLevel"`
	MachineTags           []string `json:"machineTags"`
}

type mdAction struct {
	ID                    string `json:"id"`
	Type                  string `json:"type"`
	Scope                 any    `json:"scope"`
	Requestor             string `json:"requestor"`
	RequestorComment      string `json:"requestorComment"`
	Status                string `json:"status"`
	MachineID             string `json:"machineId"`
	ComputerDNSName       string `json:"computerDnsName"`
	CreationDateTimeUtc   string `json:"creationDateTimeUtc"`
	LastUpdateDateTimeUtc string `json:"lastUpdateDateTimeUtc"`
	RelatedFileInfo       any    `json:"relatedFileInfo"`
	pending               int
}

var _ Faults = (*Defender)(nil)

// NewDefender starts a fake Defender API and token endpoint on 127.0.0.1, closed
// when the test ends.
func NewDefender(tb testing.TB, opts DefenderOptions) *Defender {
	tb.Helper()
	if opts.TenantID == "" {
		opts.TenantID = DefenderTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefenderClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefenderClientSecret
	}
	if opts.Scope == "" {
		opts.Scope = "https://api.securitycenter.microsoft.com/.default"
	}
	if opts.Roles == nil {
		opts.Roles = []string{"Machine.Isolate", "Machine.Read.All"}
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	f := &Defender{tb: tb, opts: opts, machines: map[string]*mdMachine{}, tokens: map[string]time.Time{}, roles: opts.Roles}
	start := func(h http.HandlerFunc) *httptest.Server {
		s := httptest.NewUnstartedServer(h)
		s.Config.ErrorLog = log.New(io.Discard, "", 0)
		if opts.TLS {
			s.StartTLS()
		} else {
			s.Start()
		}
		tb.Cleanup(s.Close)
		return s
	}
	f.api = start(f.serveAPI)
	f.login = start(f.serveLogin)
	f.URL, f.LoginURL = f.api.URL, f.login.URL
	return f
}

// CertPEM returns the certificate both TLS endpoints present, in PEM.
func (f *Defender) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.api.Certificate().Raw})
}

// AddMachine registers an Active, onboarded machine and returns its id (40 hex
// digits).
func (f *Defender) AddMachine(dnsName, ip string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := randomHex(20)
	f.machines[id] = &mdMachine{ID: id, ComputerDNSName: strings.ToLower(dnsName), FirstSeen: "2025-06-01T08:00:00.0000000Z",
		LastSeen: "2026-01-01T00:00:00.0000000Z", OSPlatform: "Windows11", Version: "23H2", LastIPAddress: ip,
		LastExternalIPAddress: "198.51.100.10", HealthStatus: "Active", OnboardingStatus: "Onboarded", RiskScore: "Low",
		ExposureLevel: "Medium", MachineTags: []string{}}
	return id
}

// SetHealth sets a machine's healthStatus (Active, Inactive...).
func (f *Defender) SetHealth(id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.machines[id].HealthStatus = status
}

// SetRoles replaces the application roles of tokens issued from now on and of those
// already issued.
func (f *Defender) SetRoles(roles ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles = roles
}

// Isolated reports whether the machine's latest succeeded isolation action is an
// Isolate, and the status of its latest isolation action ("" if none), without
// advancing pending actions.
func (f *Defender) Isolated(id string) (isolated bool, latestStatus string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.actions {
		if a.MachineID != id {
			continue
		}
		latestStatus = a.Status
		if a.Status == "Succeeded" {
			isolated = a.Type == "Isolate"
		}
	}
	return isolated, latestStatus
}

// Actions lists the accepted machine actions as "Isolate <machine> Full" or
// "Unisolate <machine>", in order.
func (f *Defender) Actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.actions))
	for _, a := range f.actions {
		s := a.Type + " " + a.MachineID
		if sc, ok := a.Scope.(string); ok {
			s += " " + sc
		}
		out = append(out, s)
	}
	return out
}

// Comments lists the requestorComment of every machine action, in order.
func (f *Defender) Comments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.actions))
	for _, a := range f.actions {
		out = append(out, a.RequestorComment)
	}
	return out
}

// TokenRequests counts the token requests (accepted or not).
func (f *Defender) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenReqs
}

// IssuedTokens returns every access token handed out.
func (f *Defender) IssuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

// ExpireTokens implements Faults.
func (f *Defender) ExpireTokens() {
	f.mu.Lock()
	f.tokens = map[string]time.Time{}
	f.mu.Unlock()
}

// RejectCredentials implements Faults.
func (f *Defender) RejectCredentials(reject bool) {
	f.mu.Lock()
	f.reject = reject
	if reject {
		f.tokens = map[string]time.Time{}
	}
	f.mu.Unlock()
}

// mdJSON answers with Defender's OData JSON content type.
func mdJSON(w http.ResponseWriter, status int, v any) {
	writeJSONAs(w, "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8", status, v)
}

// mdError writes Defender's error shape.
func mdError(w http.ResponseWriter, status int, code, msg string) {
	mdJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "target": mdUUID()}})
}

// aadError writes Entra ID's token error shape.
func aadError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": code, "error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, desc, mdUUID(), mdUUID(), time.Now().UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes": []int{aadsts}, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": mdUUID(), "correlation_id": mdUUID(),
		"error_uri": fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

func mdUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (f *Defender) mdStrict(w http.ResponseWriter, status int, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.tb.Errorf("fake Defender: %s", msg)
	mdError(w, status, code, msg)
}

func (f *Defender) serveLogin(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !f.delay(r) {
		return
	}
	tenant, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token")
	if !ok || strings.Contains(tenant, "/") {
		f.tb.Errorf("fake Entra ID: no route %s %s", r.Method, r.URL.Path)
		aadError(w, http.StatusNotFound, "invalid_request", 900561, "The endpoint only accepts POST requests to /{tenant}/oauth2/v2.0/token.")
		return
	}
	if r.Method != http.MethodPost {
		f.tb.Errorf("fake Entra ID: %s on the token endpoint", r.Method)
		aadError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests.")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		f.tb.Errorf("fake Entra ID: token request with Content-Type %q", r.Header.Get("Content-Type"))
		aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.URL.RawQuery != "" {
		f.tb.Errorf("fake Entra ID: token request body %q / query %q", body, r.URL.RawQuery)
		aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must be a form.")
		return
	}
	for k := range form {
		switch k {
		case "grant_type", "client_id", "client_secret", "scope":
		default:
			f.tb.Errorf("fake Entra ID: token request with unexpected field %q", k)
		}
	}
	if form.Get("grant_type") != "client_credentials" {
		f.tb.Errorf("fake Entra ID: grant_type %q", form.Get("grant_type"))
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	}
	if form.Get("scope") != f.opts.Scope {
		f.tb.Errorf("fake Entra ID: scope %q, want %q", form.Get("scope"), f.opts.Scope)
		aadError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid.", form.Get("scope")))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenReqs++
	switch {
	case !strings.EqualFold(tenant, f.opts.TenantID):
		aadError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
	case form.Get("client_id") != f.opts.ClientID:
		aadError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", form.Get("client_id")))
	case f.reject || form.Get("client_secret") != f.opts.ClientSecret:
		aadError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
	default:
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{
			"aud": "https://api.securitycenter.microsoft.com", "iss": "https://sts.windows.net/" + f.opts.TenantID + "/",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(f.opts.TokenTTL).Unix(), "appid": f.opts.ClientID,
			"tid": f.opts.TenantID, "roles": f.roles, "oid": mdUUID(), "uti": randomHex(8), "ver": "1.0",
		})
		head := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256","kid":"fake"}`))
		tok := head + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte(randomHex(32)))
		f.tokens[tok] = now.Add(f.opts.TokenTTL)
		f.issued = append(f.issued, tok)
		secs := int(f.opts.TokenTTL/time.Second) - 1
		mdJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
	}
}

var (
	mdActionPathRE = regexp.MustCompile(`^/api/machines/([0-9a-f]{40})/(isolate|unisolate)$`)
	mdFilterRE     = regexp.MustCompile(`^(?:(computerDnsName|lastIpAddress) eq '([^']*)'|startswith\(computerDnsName,'([^']*)'\))$`)
	mdActionsRE    = regexp.MustCompile(`^machineId eq '([0-9a-f]{40})'$`)
)

func (f *Defender) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !f.delay(r) {
		return
	}
	var route string
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/machines":
		route = "machines"
	case r.Method == http.MethodGet && r.URL.Path == "/api/machineactions":
		route = "machineactions"
	case r.Method == http.MethodPost && mdActionPathRE.MatchString(r.URL.Path):
		route = "action"
	default:
		f.mdStrict(w, http.StatusNotFound, "ResourceNotFound", "no route %s %s", r.Method, r.URL.Path)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		f.mdStrict(w, http.StatusUnauthorized, "Unauthorized", "%s %s without an Authorization: Bearer header", r.Method, r.URL.Path)
		return
	}
	if exp, valid := f.tokens[tok]; !valid || !time.Now().Before(exp) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The token is expired"`)
		mdError(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	if code, ok := f.takeFailure(); ok {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			mdError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests, please retry after 1 seconds.")
		} else {
			mdError(w, code, "ServiceUnavailable", http.StatusText(code))
		}
		return
	}
	switch route {
	case "machines":
		f.listMachines(w, r)
	case "machineactions":
		f.listActions(w, r)
	default:
		f.machineAction(w, r, body)
	}
}

func (f *Defender) hasRole(roles ...string) bool {
	for _, have := range f.roles {
		for _, want := range roles {
			if have == want {
				return true
			}
		}
	}
	return false
}

func (f *Defender) forbidden(w http.ResponseWriter, roles ...string) {
	mdError(w, http.StatusForbidden, "Forbidden", fmt.Sprintf("The application does not have any of the required application roles (%s) to access the resource.", strings.Join(roles, ", ")))
}

// odataParams checks the query holds only the given OData options.
func (f *Defender) odataParams(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	q := r.URL.Query()
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "query option %q is not supported here", k)
			return nil, false
		}
	}
	if strings.Contains(r.URL.RawQuery, "+") {
		f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "query %q encodes spaces as +; OData wants %%20", r.URL.RawQuery)
		return nil, false
	}
	return q, true
}

func (f *Defender) listMachines(w http.ResponseWriter, r *http.Request) {
	if !f.hasRole("Machine.Read.All", "Machine.ReadWrite.All") {
		f.forbidden(w, "Machine.Read.All", "Machine.ReadWrite.All")
		return
	}
	q, ok := f.odataParams(w, r, "$filter", "$top", "$skip")
	if !ok {
		return
	}
	top := 10000
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			mdError(w, http.StatusBadRequest, "InvalidRequestBody", "$top must be between 1 and 10000")
			return
		}
		top = n
	}
	match := func(*mdMachine) bool { return true }
	if fl := q.Get("$filter"); fl != "" {
		m := mdFilterRE.FindStringSubmatch(fl)
		if m == nil {
			f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "Invalid filter clause: %q", fl)
			return
		}
		switch {
		case m[1] == "computerDnsName":
			match = func(x *mdMachine) bool { return strings.EqualFold(x.ComputerDNSName, m[2]) }
		case m[1] == "lastIpAddress":
			match = func(x *mdMachine) bool { return x.LastIPAddress == m[2] }
		default:
			match = func(x *mdMachine) bool { return strings.HasPrefix(x.ComputerDNSName, strings.ToLower(m[3])) }
		}
	}
	out := []mdMachine{}
	for _, m := range f.machines {
		if match(m) && len(out) < top {
			out = append(out, *m)
		}
	}
	mdJSON(w, http.StatusOK, map[string]any{"@odata.context": f.URL + "/api/$metadata#Machines", "value": out})
}

func (f *Defender) listActions(w http.ResponseWriter, r *http.Request) {
	if !f.hasRole("Machine.Read.All", "Machine.ReadWrite.All") {
		f.forbidden(w, "Machine.Read.All", "Machine.ReadWrite.All")
		return
	}
	q, ok := f.odataParams(w, r, "$filter", "$top", "$skip")
	if !ok {
		return
	}
	m := mdActionsRE.FindStringSubmatch(q.Get("$filter"))
	if m == nil {
		f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "Invalid filter clause: %q; want machineId eq '<id>'", q.Get("$filter"))
		return
	}
	out := []mdAction{}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z")
	for _, a := range f.actions {
		if a.MachineID != m[1] {
			continue
		}
		if a.Status == "Pending" || a.Status == "InProgress" {
			if a.pending > 0 {
				a.pending--
				a.Status = "InProgress"
			} else {
				a.Status, a.LastUpdateDateTimeUtc = "Succeeded", now
			}
		}
		out = append(out, *a)
	}
	mdJSON(w, http.StatusOK, map[string]any{"@odata.context": f.URL + "/api/$metadata#MachineActions", "value": out})
}

func (f *Defender) machineAction(w http.ResponseWriter, r *http.Request, body []byte) {
	m := mdActionPathRE.FindStringSubmatch(r.URL.Path)
	id, op := m[1], m[2]
	if r.URL.RawQuery != "" {
		f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "%s with a query string", r.URL.Path)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "%s with Content-Type %q; want application/json", r.URL.Path, r.Header.Get("Content-Type"))
		return
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "%s body %q is not a JSON object", r.URL.Path, body)
		return
	}
	var comment, isoType string
	for k, v := range in {
		var s string
		if json.Unmarshal(v, &s) != nil {
			f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "%s: %s must be a string", r.URL.Path, k)
			return
		}
		switch {
		case k == "Comment":
			comment = s
		case k == "IsolationType" && op == "isolate":
			isoType = s
		default:
			f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "%s: unknown body field %q", r.URL.Path, k)
			return
		}
	}
	if comment == "" {
		f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "%s: Comment is required", r.URL.Path)
		return
	}
	if op == "isolate" && isoType != "" && isoType != "Full" && isoType != "Selective" {
		f.mdStrict(w, http.StatusBadRequest, "InvalidRequestBody", "IsolationType %q is not Full or Selective", isoType)
		return
	}
	if !f.hasRole("Machine.Isolate") {
		f.forbidden(w, "Machine.Isolate")
		return
	}
	mach, ok := f.machines[id]
	if !ok {
		mdError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("Machine %s was not found", id))
		return
	}
	typ := "Isolate"
	if op == "unisolate" {
		typ = "Unisolate"
	}
	for i := len(f.actions) - 1; i >= 0; i-- {
		a := f.actions[i]
		if a.MachineID == id && a.Type == typ && (a.Status == "Pending" || a.Status == "InProgress") {
			mdError(w, http.StatusBadRequest, "ActiveRequestAlreadyExists", "Action is already in progress")
			return
		}
	}
	f.seq++
	now := time.Now().UTC().Add(time.Duration(f.seq) * time.Millisecond).Format("2006-01-02T15:04:05.0000000Z")
	a := &mdAction{ID: mdUUID(), Type: typ, Requestor: f.opts.ClientID, RequestorComment: comment, Status: "Pending",
		MachineID: id, ComputerDNSName: mach.ComputerDNSName, CreationDateTimeUtc: now, LastUpdateDateTimeUtc: now, pending: f.opts.PendingReads}
	if op == "isolate" {
		if isoType == "" {
			isoType = "Full"
		}
		a.Scope = isoType
	}
	f.actions = append(f.actions, a)
	f.mutated()
	mdJSON(w, http.StatusCreated, a)
}
