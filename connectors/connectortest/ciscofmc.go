package connectortest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The credentials and domain the Cisco FMC fake accepts.
const (
	FMCUser       = "warroom-api"
	FMCPassword   = "fmc-Pa55-3c8d10"
	FMCDomainUUID = "e276abec-e0f2-11e3-8169-6d9ed49b625f" // the Global domain
	FMCSubdomain  = "9f8a2c1e-5b7d-4e3a-a1c2-0d4e6f8a9b10" // Global/Europe
)

// CiscoFMC is a strict fake of the Cisco Secure Firewall Management Center REST
// API: tokens from POST /api/fmc_platform/v1/auth/generatetoken (basic auth, empty
// body, answered 204 with X-auth-access-token, X-auth-refresh-token, DOMAIN_UUID and
// DOMAINS headers), refreshed up to three times through /auth/refreshtoken; host and
// network objects, network groups (GET, then PUT of the whole group) and deployments
// under /api/fmc_config/v1/domain/{uuid}/. A network group must keep at least one
// member, as on the real FMC. A deployment request starts a task that GET
// job/taskstatuses/{id} reports as "Deploying" for SetDeployPolls reads (default
// 1), then "Deployed", or "Failed" with a message after FailDeployments. Errors use FMC's {"error": {"category", "messages":
// [{"description"}], "severity"}} shape; anything undocumented fails the test.
type CiscoFMC struct {
	faults
	URL    string
	CAFile string

	t   testing.TB
	srv *httptest.Server

	mu          sync.Mutex
	access      map[string]bool
	refresh     map[string]int // refresh token → refreshes used
	objects     map[string]*fmcObject
	groups      map[string]*fmcGroup
	devices     []fmcDevice
	pending     bool // changes not yet deployed
	deploys     []FMCDeployment
	tasks       map[string]*fmcTask
	deployPolls int    // reads answering "Deploying" before a task ends (<0: never)
	deployFail  string // non-empty: tasks end "Failed" with this message
	taskReads   int
	tokens      int
	refreshes   int
	seq         int
}

type fmcObject struct {
	ID, Name, Type, Value, Description string
	Domain                             string
}

type fmcRef struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type fmcLiteral struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type fmcGroup struct {
	ID, Name, Description string
	Domain                string
	Objects               []fmcRef
	Literals              []fmcLiteral
}

type fmcDevice struct{ ID, Name string }

// FMCDeployment records one accepted deployment request.
type FMCDeployment struct {
	Version string
	Devices []string // device ids
	TaskID  string
}

type fmcTask struct {
	id, fail string
	left     int // reads still answering "Deploying" (<0: forever)
	status   string
}

// NewCiscoFMC starts an FMC fake holding network group "warroom-block" in the
// Global domain, with one placeholder literal (192.0.2.255, TEST-NET-1) since FMC
// groups cannot be empty, and two managed devices, ftd-edge-1 and ftd-edge-2.
func NewCiscoFMC(tb testing.TB) *CiscoFMC {
	tb.Helper()
	f := &CiscoFMC{t: tb, access: map[string]bool{}, refresh: map[string]int{}, objects: map[string]*fmcObject{}, groups: map[string]*fmcGroup{},
		tasks: map[string]*fmcTask{}, deployPolls: 1}
	for _, d := range []string{"ftd-edge-1", "ftd-edge-2"} {
		f.devices = append(f.devices, fmcDevice{ID: f.id(), Name: d})
	}
	f.AddGroup(FMCDomainUUID, "warroom-block", "192.0.2.255")
	f.srv, f.CAFile = startTLSFake(tb, http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

func (f *CiscoFMC) id() string {
	f.seq++
	return fmt.Sprintf("00505686-7a1b-0ed3-0000-%012d", f.seq)
}

// AddGroup creates a network group in domain holding the given address literals
// ("192.0.2.1", "198.51.100.0/24") and returns its id.
func (f *CiscoFMC) AddGroup(domain, name string, literals ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := &fmcGroup{ID: f.id(), Name: name, Domain: domain}
	for _, v := range literals {
		g.Literals = append(g.Literals, fmcLiteralFor(v))
	}
	f.groups[g.ID] = g
	return g.ID
}

func fmcLiteralFor(v string) fmcLiteral {
	if strings.Contains(v, "/") {
		return fmcLiteral{Type: "Network", Value: v}
	}
	return fmcLiteral{Type: "Host", Value: v}
}

// AddGroupLiteral adds an address literal to the group named name, as an
// administrator would in the FMC user interface.
func (f *CiscoFMC) AddGroupLiteral(name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.groups {
		if g.Name == name {
			g.Literals = append(g.Literals, fmcLiteralFor(value))
		}
	}
}

// RemoveGroupLiteral removes an address literal from the group named name.
func (f *CiscoFMC) RemoveGroupLiteral(name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.groups {
		if g.Name == name {
			g.Literals = slices.DeleteFunc(g.Literals, func(l fmcLiteral) bool { return l.Value == value })
		}
	}
}

// ExpireTokens implements Faults: every access and refresh token stops working.
func (f *CiscoFMC) ExpireTokens() {
	f.mu.Lock()
	f.access = map[string]bool{}
	f.refresh = map[string]int{}
	f.mu.Unlock()
}

// ExpireAccessTokens invalidates access tokens only, as their 30 minutes passing
// would; refresh tokens keep working.
func (f *CiscoFMC) ExpireAccessTokens() {
	f.mu.Lock()
	f.access = map[string]bool{}
	f.mu.Unlock()
}

// RejectCredentials implements Faults.
func (f *CiscoFMC) RejectCredentials(reject bool) {
	f.setReject(reject)
	if reject {
		f.ExpireTokens()
	}
}

// TokensIssued and Refreshes count generatetoken and refreshtoken calls answered 204.
func (f *CiscoFMC) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens
}

// Refreshes counts refreshtoken calls answered 204.
func (f *CiscoFMC) Refreshes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshes
}

// Deployments returns the accepted deployment requests.
func (f *CiscoFMC) Deployments() []FMCDeployment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deploys)
}

// SetDeployPolls sets how many reads of a deployment task started from now on
// answer "Deploying" before it ends; n < 0 keeps it deploying forever.
func (f *CiscoFMC) SetDeployPolls(n int) {
	f.mu.Lock()
	f.deployPolls = n
	f.mu.Unlock()
}

// FailDeployments makes deployment tasks started from now on end "Failed" with msg
// (as a device refusing the configuration would); "" lets them succeed again.
func (f *CiscoFMC) FailDeployments(msg string) {
	f.mu.Lock()
	f.deployFail = msg
	f.mu.Unlock()
}

// TaskReads counts GET job/taskstatuses/{id} calls answered.
func (f *CiscoFMC) TaskReads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.taskReads
}

// DeviceID returns the id of the managed device named name.
func (f *CiscoFMC) DeviceID(name string) string {
	for _, d := range f.devices {
		if d.Name == name {
			return d.ID
		}
	}
	return ""
}

// GroupMembers returns the group's members: object names with their values, and
// literals under their own value.
func (f *CiscoFMC) GroupMembers(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, g := range f.groups {
		if g.Name != name {
			continue
		}
		for _, o := range g.Objects {
			out[o.Name] = f.objects[o.ID].Value
		}
		for _, l := range g.Literals {
			out[l.Value] = l.Value
		}
	}
	return out
}

// ObjectNames lists the host and network objects, sorted.
func (f *CiscoFMC) ObjectNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, o := range f.objects {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

func fmcError(w http.ResponseWriter, status int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"category": "FRAMEWORK", "severity": "ERROR",
		"messages": []map[string]string{{"description": desc}}}})
}

// reject answers with FMC's error shape and fails the test.
func (f *CiscoFMC) reject(w http.ResponseWriter, status int, desc string) {
	f.t.Errorf("cisco fmc fake: %d %s", status, desc)
	fmcError(w, status, desc)
}

const (
	fmcTokenPath   = "/api/fmc_platform/v1/auth/generatetoken"
	fmcRefreshPath = "/api/fmc_platform/v1/auth/refreshtoken"
	fmcConfigPath  = "/api/fmc_config/v1/domain/"
)

func (f *CiscoFMC) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !f.delay(r) {
		return
	}
	switch r.URL.Path {
	case fmcTokenPath:
		f.generateToken(w, r, body)
		return
	case fmcRefreshPath:
		f.refreshToken(w, r, body)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, fmcConfigPath)
	if !ok {
		f.reject(w, http.StatusNotFound, "Invalid URL "+r.URL.Path)
		return
	}
	if r.Header.Get("Authorization") != "" {
		f.reject(w, http.StatusBadRequest, "API calls take X-auth-access-token, not an Authorization header")
		return
	}
	f.mu.Lock()
	valid := f.access[r.Header.Get("X-auth-access-token")]
	f.mu.Unlock()
	if !valid {
		fmcError(w, http.StatusUnauthorized, "Access token invalid.")
		return
	}
	if st, ok := f.takeFailure(); ok {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			fmcError(w, st, "Too Many Requests: the rate limit of 120 requests per minute was exceeded")
			return
		}
		fmcError(w, st, "Service Unavailable")
		return
	}
	domain, res, _ := strings.Cut(rest, "/")
	if domain != FMCDomainUUID && domain != FMCSubdomain {
		f.reject(w, http.StatusNotFound, "Domain "+domain+" not found")
		return
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPut) && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.reject(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodDelete) && len(body) > 0 {
		f.reject(w, http.StatusBadRequest, r.Method+" takes no body")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(res, "/")
	base := "/api/fmc_config/v1/domain/" + domain + "/"
	switch {
	case len(parts) == 2 && parts[0] == "object" && (parts[1] == "hosts" || parts[1] == "networks"):
		switch r.Method {
		case http.MethodGet:
			f.listObjects(w, r, base, domain, parts[1])
		case http.MethodPost:
			f.createObject(w, r, base, domain, parts[1], body)
		default:
			f.reject(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+res)
		}
	case len(parts) == 3 && parts[0] == "object" && (parts[1] == "hosts" || parts[1] == "networks"):
		o, ok := f.objects[parts[2]]
		if !ok || o.Domain != domain || strings.ToLower(o.Type)+"s" != parts[1] {
			f.reject(w, http.StatusNotFound, "Object "+parts[2]+" not found")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, f.objectJSON(base, o))
		case http.MethodDelete:
			for _, g := range f.groups {
				if slices.ContainsFunc(g.Objects, func(ref fmcRef) bool { return ref.ID == o.ID }) {
					f.reject(w, http.StatusBadRequest, "Object "+o.Name+" is in use by "+g.Name)
					return
				}
			}
			delete(f.objects, o.ID)
			f.mutated()
			writeJSON(w, http.StatusOK, f.objectJSON(base, o))
		default:
			f.reject(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+res)
		}
	case len(parts) == 2 && parts[0] == "object" && parts[1] == "networkgroups" && r.Method == http.MethodGet:
		if !f.checkQuery(w, r, "limit", "offset", "expanded") {
			return
		}
		var items []any
		for _, g := range f.groupsSorted(domain) {
			items = append(items, map[string]any{"id": g.ID, "name": g.Name, "type": "NetworkGroup",
				"links": map[string]string{"self": f.URL + base + "object/networkgroups/" + g.ID}})
		}
		f.page(w, r, items)
	case len(parts) == 3 && parts[0] == "object" && parts[1] == "networkgroups":
		g, ok := f.groups[parts[2]]
		if !ok || g.Domain != domain {
			f.reject(w, http.StatusNotFound, "Object "+parts[2]+" not found")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, f.groupJSON(base, g))
		case http.MethodPut:
			f.putGroup(w, base, g, body)
		default:
			f.reject(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+res)
		}
	case res == "deployment/deployabledevices" && r.Method == http.MethodGet:
		if !f.checkQuery(w, r, "expanded", "limit", "offset") {
			return
		}
		var items []any
		if f.pending {
			for _, d := range f.devices {
				items = append(items, map[string]any{"type": "DeployableDevice", "name": d.Name, "version": strconv.Itoa(1700000000000 + f.Mutations()),
					"canBeDeployed": true, "upToDate": false, "device": map[string]string{"id": d.ID, "name": d.Name, "type": "Device"}})
			}
		}
		f.page(w, r, items)
	case res == "deployment/deploymentrequests" && r.Method == http.MethodPost:
		var in struct {
			Type          string   `json:"type"`
			Version       string   `json:"version"`
			ForceDeploy   bool     `json:"forceDeploy"`
			IgnoreWarning bool     `json:"ignoreWarning"`
			DeviceList    []string `json:"deviceList"`
		}
		if err := decodeStrictJSON(body, &in); err != nil || in.Type != "DeploymentRequest" || in.Version == "" || len(in.DeviceList) == 0 {
			f.reject(w, http.StatusBadRequest, fmt.Sprintf("Invalid deployment request: want type DeploymentRequest, version and deviceList (%v)", err))
			return
		}
		for _, id := range in.DeviceList {
			if !slices.ContainsFunc(f.devices, func(d fmcDevice) bool { return d.ID == id }) {
				f.reject(w, http.StatusBadRequest, "Device "+id+" not found")
				return
			}
		}
		f.pending = false
		f.mutated()
		task := f.id()
		f.tasks[task] = &fmcTask{id: task, fail: f.deployFail, left: f.deployPolls, status: "Deploying"}
		f.deploys = append(f.deploys, FMCDeployment{Version: in.Version, Devices: in.DeviceList, TaskID: task})
		writeJSON(w, http.StatusAccepted, map[string]any{"type": "DeploymentRequest", "version": in.Version, "forceDeploy": in.ForceDeploy,
			"ignoreWarning": in.IgnoreWarning, "deviceList": in.DeviceList,
			"metadata": map[string]any{"task": map[string]any{"type": "TaskStatus", "id": task,
				"links": map[string]string{"self": f.URL + base + "job/taskstatuses/" + task}}}})
	case len(parts) == 3 && parts[0] == "job" && parts[1] == "taskstatuses" && r.Method == http.MethodGet:
		if !f.checkQuery(w, r) {
			return
		}
		t, ok := f.tasks[parts[2]]
		if !ok {
			f.reject(w, http.StatusNotFound, "Task "+parts[2]+" not found")
			return
		}
		f.taskReads++
		msg := "Deployment in progress"
		switch {
		case t.left > 0:
			t.left--
		case t.left == 0 && t.fail != "":
			t.status, msg = "Failed", t.fail
		case t.left == 0:
			t.status, msg = "Deployed", "Deployment completed successfully"
		}
		if t.status == "Failed" {
			msg = t.fail
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": t.id, "type": "TaskStatus", "taskType": "DEVICE_DEPLOYMENT",
			"status": t.status, "message": msg, "links": map[string]string{"self": f.URL + base + "job/taskstatuses/" + t.id}})
	default:
		f.reject(w, http.StatusNotFound, fmt.Sprintf("%s %s is not part of the API", r.Method, res))
	}
}

func (f *CiscoFMC) basicAuth(r *http.Request) (string, string, bool) {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
	if !ok {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "", "", false
	}
	u, p, ok := strings.Cut(string(raw), ":")
	return u, p, ok
}

func (f *CiscoFMC) issue(w http.ResponseWriter, refreshToken string, used int) {
	access := randomHex(16)
	if refreshToken == "" {
		refreshToken = randomHex(16)
	}
	f.mu.Lock()
	f.access[access] = true
	f.refresh[refreshToken] = used
	f.mu.Unlock()
	domains, _ := json.Marshal([]map[string]string{{"name": "Global", "uuid": FMCDomainUUID}, {"name": "Global/Europe", "uuid": FMCSubdomain}})
	w.Header().Set("X-auth-access-token", access)
	w.Header().Set("X-auth-refresh-token", refreshToken)
	w.Header().Set("DOMAIN_UUID", FMCDomainUUID)
	w.Header().Set("DOMAINS", string(domains))
	w.WriteHeader(http.StatusNoContent)
}

func (f *CiscoFMC) generateToken(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost || len(body) != 0 || r.URL.RawQuery != "" {
		f.reject(w, http.StatusBadRequest, "generatetoken takes a POST with an empty body")
		return
	}
	u, p, ok := f.basicAuth(r)
	if !ok {
		f.reject(w, http.StatusUnauthorized, "generatetoken needs HTTP basic authentication")
		return
	}
	if u != FMCUser || p != FMCPassword || f.rejecting() {
		fmcError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	f.mu.Lock()
	f.tokens++
	f.mu.Unlock()
	f.issue(w, "", 0)
}

func (f *CiscoFMC) refreshToken(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost || len(body) != 0 {
		f.reject(w, http.StatusBadRequest, "refreshtoken takes a POST with an empty body")
		return
	}
	if r.Header.Get("Authorization") != "" {
		f.reject(w, http.StatusBadRequest, "refreshtoken takes the two token headers, not credentials")
		return
	}
	access, rt := r.Header.Get("X-auth-access-token"), r.Header.Get("X-auth-refresh-token")
	if access == "" || rt == "" {
		f.reject(w, http.StatusBadRequest, "refreshtoken needs X-auth-access-token and X-auth-refresh-token")
		return
	}
	f.mu.Lock()
	used, ok := f.refresh[rt]
	if ok {
		delete(f.refresh, rt)
		delete(f.access, access)
	}
	f.mu.Unlock()
	if !ok || used >= 3 || f.rejecting() {
		fmcError(w, http.StatusUnauthorized, "Invalid refresh token or the token was refreshed 3 times already")
		return
	}
	f.mu.Lock()
	f.refreshes++
	f.mu.Unlock()
	f.issue(w, rt, used+1)
}

func (f *CiscoFMC) checkQuery(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for k, v := range r.URL.Query() {
		if !slices.Contains(allowed, k) || len(v) != 1 {
			f.reject(w, http.StatusBadRequest, "Unsupported query parameter "+k)
			return false
		}
		switch k {
		case "limit", "offset":
			if n, err := strconv.Atoi(v[0]); err != nil || n < 0 || (k == "limit" && (n == 0 || n > 1000)) {
				f.reject(w, http.StatusBadRequest, "Invalid "+k+" "+v[0])
				return false
			}
		case "expanded":
			if v[0] != "true" && v[0] != "false" {
				f.reject(w, http.StatusBadRequest, "Invalid expanded "+v[0])
				return false
			}
		}
	}
	return true
}

// page answers a list with FMC's paging (limit default 25, maximum 1000).
func (f *CiscoFMC) page(w http.ResponseWriter, r *http.Request, items []any) {
	q := r.URL.Query()
	limit, offset := 25, 0
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if v := q.Get("offset"); v != "" {
		offset, _ = strconv.Atoi(v)
	}
	count := len(items)
	pages := (count + limit - 1) / limit
	out := map[string]any{"links": map[string]string{"self": f.URL + r.URL.RequestURI()},
		"paging": map[string]any{"offset": offset, "limit": limit, "count": count, "pages": pages}}
	if offset < count {
		end := min(offset+limit, count)
		out["items"] = items[offset:end]
		if end < count {
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("offset", strconv.Itoa(end))
			nq.Set("limit", strconv.Itoa(limit))
			out["paging"].(map[string]any)["next"] = []string{f.URL + r.URL.Path + "?" + nq.Encode()}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *CiscoFMC) objectJSON(base string, o *fmcObject) map[string]any {
	kind := strings.ToLower(o.Type) + "s"
	return map[string]any{"id": o.ID, "name": o.Name, "type": o.Type, "value": o.Value, "description": o.Description,
		"overridable": false, "links": map[string]string{"self": f.URL + base + "object/" + kind + "/" + o.ID},
		"metadata": map[string]any{"readOnly": map[string]any{"state": false}, "domain": map[string]string{"id": o.Domain, "type": "Domain"}}}
}

func (f *CiscoFMC) groupJSON(base string, g *fmcGroup) map[string]any {
	m := map[string]any{"id": g.ID, "name": g.Name, "type": "NetworkGroup", "overridable": false, "description": g.Description,
		"links":    map[string]string{"self": f.URL + base + "object/networkgroups/" + g.ID},
		"metadata": map[string]any{"readOnly": map[string]any{"state": false}, "domain": map[string]string{"id": g.Domain, "type": "Domain"}}}
	if len(g.Objects) > 0 {
		m["objects"] = g.Objects
	}
	if len(g.Literals) > 0 {
		m["literals"] = g.Literals
	}
	return m
}

func (f *CiscoFMC) groupsSorted(domain string) []*fmcGroup {
	var out []*fmcGroup
	for _, g := range f.groups {
		if g.Domain == domain {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *fmcGroup) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (f *CiscoFMC) listObjects(w http.ResponseWriter, r *http.Request, base, domain, kind string) {
	if !f.checkQuery(w, r, "filter", "expanded", "limit", "offset") {
		return
	}
	needle := ""
	if v := r.URL.Query().Get("filter"); v != "" {
		var ok bool
		if needle, ok = strings.CutPrefix(v, "nameOrValue:"); !ok || needle == "" {
			f.reject(w, http.StatusBadRequest, "Invalid filter "+v+"; use nameOrValue:{value}")
			return
		}
	}
	expanded := r.URL.Query().Get("expanded") == "true"
	var list []*fmcObject
	for _, o := range f.objects {
		if o.Domain == domain && strings.ToLower(o.Type)+"s" == kind && (needle == "" || strings.Contains(o.Name, needle) || o.Value == needle) {
			list = append(list, o)
		}
	}
	slices.SortFunc(list, func(a, b *fmcObject) int { return strings.Compare(a.Name, b.Name) })
	var items []any
	for _, o := range list {
		if expanded {
			items = append(items, f.objectJSON(base, o))
		} else {
			items = append(items, map[string]any{"id": o.ID, "name": o.Name, "type": o.Type,
				"links": map[string]string{"self": f.URL + base + "object/" + kind + "/" + o.ID}})
		}
	}
	f.page(w, r, items)
}

func (f *CiscoFMC) createObject(w http.ResponseWriter, r *http.Request, base, domain, kind string, body []byte) {
	if !f.checkQuery(w, r) {
		return
	}
	var in struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		Value       string `json:"value"`
		Description string `json:"description"`
		Overridable bool   `json:"overridable"`
	}
	if err := decodeStrictJSON(body, &in); err != nil || in.Name == "" {
		f.reject(w, http.StatusBadRequest, fmt.Sprintf("Invalid object: %v", err))
		return
	}
	want := "Host"
	if kind == "networks" {
		want = "Network"
	}
	if in.Type != want {
		f.reject(w, http.StatusBadRequest, fmt.Sprintf("Invalid type %q for %s; want %s", in.Type, kind, want))
		return
	}
	if want == "Host" {
		if _, err := netip.ParseAddr(in.Value); err != nil {
			f.reject(w, http.StatusBadRequest, "Invalid IP address "+in.Value)
			return
		}
	} else if p, err := netip.ParsePrefix(in.Value); err != nil || p.Masked() != p {
		f.reject(w, http.StatusBadRequest, "Invalid network "+in.Value)
		return
	}
	for _, o := range f.objects {
		if o.Domain == domain && o.Name == in.Name {
			f.t.Errorf("cisco fmc fake: object %s created twice: the connector did not look it up first", in.Name)
			fmcError(w, http.StatusBadRequest, "The object name "+in.Name+" already exists. Enter a new name.")
			return
		}
	}
	o := &fmcObject{ID: f.id(), Name: in.Name, Type: want, Value: in.Value, Description: in.Description, Domain: domain}
	f.objects[o.ID] = o
	f.mutated()
	writeJSON(w, http.StatusCreated, f.objectJSON(base, o))
}

func (f *CiscoFMC) putGroup(w http.ResponseWriter, base string, g *fmcGroup, body []byte) {
	var in struct {
		ID          string          `json:"id"`
		Name        string          `json:"name"`
		Type        string          `json:"type"`
		Description string          `json:"description"`
		Overridable bool            `json:"overridable"`
		Objects     []fmcRef        `json:"objects"`
		Literals    []fmcLiteral    `json:"literals"`
		Links       json.RawMessage `json:"links"`
		Metadata    json.RawMessage `json:"metadata"`
	}
	if err := decodeStrictJSON(body, &in); err != nil {
		f.reject(w, http.StatusBadRequest, "Invalid network group: "+err.Error())
		return
	}
	if in.ID != g.ID || in.Name == "" || in.Type != "NetworkGroup" {
		f.reject(w, http.StatusBadRequest, "The body must carry the group's id, its name and type NetworkGroup")
		return
	}
	if len(in.Objects)+len(in.Literals) == 0 {
		fmcError(w, http.StatusBadRequest, "Network group "+in.Name+" must have at least one object or literal")
		return
	}
	seen := map[string]bool{}
	for _, ref := range in.Objects {
		o, ok := f.objects[ref.ID]
		if !ok || o.Type != ref.Type {
			f.reject(w, http.StatusBadRequest, fmt.Sprintf("Object %s of type %s not found", ref.ID, ref.Type))
			return
		}
		if seen[ref.ID] {
			f.reject(w, http.StatusBadRequest, "Object "+o.Name+" is listed twice")
			return
		}
		seen[ref.ID] = true
	}
	for _, l := range in.Literals {
		if l.Type != "Host" && l.Type != "Network" {
			f.reject(w, http.StatusBadRequest, "Invalid literal type "+l.Type)
			return
		}
	}
	g.Name, g.Description, g.Literals = in.Name, in.Description, in.Literals
	g.Objects = nil
	for _, ref := range in.Objects {
		o := f.objects[ref.ID]
		g.Objects = append(g.Objects, fmcRef{Type: o.Type, ID: o.ID, Name: o.Name})
	}
	f.mutated()
	f.pending = true
	writeJSON(w, http.StatusOK, f.groupJSON(base, g))
}

var _ Faults = (*CiscoFMC)(nil)
