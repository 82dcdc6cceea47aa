package connectortest

import (
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
	"time"
)

// The API key and organization the Meraki fake accepts.
const (
	MerakiAPIKey = "6bec40cf957de430a6f1f2baa056b99a4fac9ea0"
	MerakiOrgID  = "549236"
)

// Meraki is a strict fake of the Meraki Dashboard API v1 policy objects:
// /api/v1/organizations/{organizationId}/policyObjects (GET paged with perPage and
// startingAfter and a Link rel=next header, POST) and /policyObjects/{id} (GET,
// DELETE), /policyObjects/groups (GET) and /policyObjects/groups/{id} (GET, PUT
// {objectIds}). Requests authenticate with "Authorization: Bearer <key>" or
// X-Cisco-Meraki-API-Key. Errors are {"errors": ["..."]}; 429 carries Retry-After.
// Anything undocumented fails the test.
type Meraki struct {
	faults
	URL    string // base URL up to and including /api/v1
	CAFile string

	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	objects map[string]*mkObject
	groups  map[string]*mkGroup
	seq     int
}

type mkObject struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Category string   `json:"category"`
	Type     string   `json:"type"`
	CIDR     string   `json:"cidr"`
	GroupIDs []string `json:"groupIds"`
}

type mkGroup struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Category  string   `json:"category"`
	ObjectIDs []string `json:"objectIds"`
}

// NewMeraki starts a Meraki fake with an empty NetworkObjectGroup "warroom-block".
func NewMeraki(tb testing.TB) *Meraki {
	tb.Helper()
	f := &Meraki{t: tb, objects: map[string]*mkObject{}, groups: map[string]*mkGroup{}}
	f.AddGroup("warroom-block")
	srv, ca := startTLSFake(tb, http.HandlerFunc(f.serve))
	f.srv, f.CAFile, f.URL = srv, ca, srv.URL+"/api/v1"
	return f
}

func (f *Meraki) nextID() string {
	f.seq++
	return strconv.Itoa(3456000 + f.seq)
}

// AddGroup creates a NetworkObjectGroup and returns its id.
func (f *Meraki) AddGroup(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := &mkGroup{ID: f.nextID(), Name: name, Category: "NetworkObjectGroup", ObjectIDs: []string{}}
	f.groups[g.ID] = g
	return g.ID
}

// AddObject creates a cidr policy object in the named group, as an administrator
// would in the dashboard.
func (f *Meraki) AddObject(group, name, cidr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := &mkObject{ID: f.nextID(), Name: name, Category: "network", Type: "cidr", CIDR: cidr, GroupIDs: []string{}}
	for _, g := range f.groups {
		if g.Name == group {
			g.ObjectIDs = append(g.ObjectIDs, o.ID)
			o.GroupIDs = append(o.GroupIDs, g.ID)
		}
	}
	f.objects[o.ID] = o
}

// GroupCIDRs returns the named group's members: object name → cidr.
func (f *Meraki) GroupCIDRs(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, g := range f.groups {
		if g.Name == name {
			for _, id := range g.ObjectIDs {
				out[f.objects[id].Name] = f.objects[id].CIDR
			}
		}
	}
	return out
}

// ObjectNames lists the policy objects' names, sorted.
func (f *Meraki) ObjectNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, o := range f.objects {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

// ExpireTokens implements Faults. Dashboard API keys have no session or token to
// expire, so there is nothing to do; the connector has nothing to renew either.
func (f *Meraki) ExpireTokens() {}

// RejectCredentials implements Faults: the API key is refused with 401.
func (f *Meraki) RejectCredentials(reject bool) {
	f.setReject(reject)
}

func mkErrors(w http.ResponseWriter, status int, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": msgs})
}

func (f *Meraki) reject(w http.ResponseWriter, status int, msg string) {
	f.t.Errorf("meraki fake: %d %s", status, msg)
	mkErrors(w, status, msg)
}

func (f *Meraki) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !f.delay(r) {
		return
	}
	key := ""
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		key = v
	}
	if v := r.Header.Get("X-Cisco-Meraki-API-Key"); v != "" {
		if key != "" {
			f.reject(w, http.StatusBadRequest, "send the API key once, in Authorization or X-Cisco-Meraki-API-Key")
			return
		}
		key = v
	}
	if key == "" {
		f.reject(w, http.StatusUnauthorized, "Invalid API key")
		return
	}
	if key != MerakiAPIKey || f.rejecting() {
		mkErrors(w, http.StatusUnauthorized, "Invalid API key")
		return
	}
	if st, ok := f.takeFailure(); ok {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			mkErrors(w, st, "API rate limit exceeded for organization")
			return
		}
		mkErrors(w, st, "Service Unavailable")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/organizations/")
	if !ok {
		f.reject(w, http.StatusNotFound, "Not found: "+r.URL.Path)
		return
	}
	parts := strings.Split(rest, "/")
	if parts[0] != MerakiOrgID {
		mkErrors(w, http.StatusNotFound, "Organization not found")
		return
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPut) && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.reject(w, http.StatusBadRequest, "Content-Type must be application/json")
		return
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodDelete) && len(body) > 0 {
		f.reject(w, http.StatusBadRequest, r.Method+" takes no body")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts = parts[1:]
	switch {
	case len(parts) == 1 && parts[0] == "policyObjects" && r.Method == http.MethodGet:
		var items []any
		for _, o := range f.sortedObjects() {
			items = append(items, o)
		}
		f.pageOut(w, r, items, 5000, func(v any) string { return v.(*mkObject).ID })
	case len(parts) == 1 && parts[0] == "policyObjects" && r.Method == http.MethodPost:
		var in struct {
			Name     string   `json:"name"`
			Category string   `json:"category"`
			Type     string   `json:"type"`
			CIDR     string   `json:"cidr"`
			GroupIDs []string `json:"groupIds"`
		}
		if err := decodeStrictJSON(body, &in); err != nil {
			f.reject(w, http.StatusBadRequest, "Invalid policy object: "+err.Error())
			return
		}
		if in.Name == "" || len(in.Name) > 127 || in.Category != "network" || in.Type != "cidr" {
			f.reject(w, http.StatusBadRequest, "name (1-127 characters), category network and type cidr are required")
			return
		}
		if !mkValidCIDR(in.CIDR) {
			f.reject(w, http.StatusBadRequest, "Invalid cidr "+in.CIDR)
			return
		}
		for _, o := range f.objects {
			if o.Name == in.Name {
				f.t.Errorf("meraki fake: policy object %s created twice: the connector did not look it up first", in.Name)
				mkErrors(w, http.StatusBadRequest, "Name has already been taken")
				return
			}
		}
		for _, gid := range in.GroupIDs {
			if _, ok := f.groups[gid]; !ok {
				f.reject(w, http.StatusBadRequest, "Policy object group "+gid+" not found")
				return
			}
		}
		o := &mkObject{ID: f.nextID(), Name: in.Name, Category: in.Category, Type: in.Type, CIDR: in.CIDR, GroupIDs: slices.Clone(in.GroupIDs)}
		if o.GroupIDs == nil {
			o.GroupIDs = []string{}
		}
		for _, gid := range in.GroupIDs {
			f.groups[gid].ObjectIDs = append(f.groups[gid].ObjectIDs, o.ID)
		}
		f.objects[o.ID] = o
		f.mutated()
		writeJSON(w, http.StatusCreated, f.objectOut(o))
	case len(parts) == 2 && parts[0] == "policyObjects" && parts[1] == "groups" && r.Method == http.MethodGet:
		var items []any
		for _, g := range f.sortedGroups() {
			items = append(items, f.groupOut(g))
		}
		f.pageOut(w, r, items, 1000, func(v any) string { return v.(map[string]any)["id"].(string) })
	case len(parts) == 3 && parts[0] == "policyObjects" && parts[1] == "groups":
		g, ok := f.groups[parts[2]]
		if !ok {
			f.reject(w, http.StatusNotFound, "Policy object group not found")
			return
		}
		switch r.Method {
		case http.MethodGet:
			if r.URL.RawQuery != "" {
				f.reject(w, http.StatusBadRequest, "unexpected query "+r.URL.RawQuery)
				return
			}
			writeJSON(w, http.StatusOK, f.groupOut(g))
		case http.MethodPut:
			var in struct {
				Name      *string  `json:"name"`
				ObjectIDs []string `json:"objectIds"`
			}
			if err := decodeStrictJSON(body, &in); err != nil || in.ObjectIDs == nil {
				f.reject(w, http.StatusBadRequest, fmt.Sprintf("Invalid policy object group: want objectIds (%v)", err))
				return
			}
			for _, id := range in.ObjectIDs {
				if _, ok := f.objects[id]; !ok {
					f.reject(w, http.StatusBadRequest, "Policy object "+id+" not found")
					return
				}
			}
			if in.Name != nil {
				g.Name = *in.Name
			}
			for _, id := range g.ObjectIDs {
				o := f.objects[id]
				o.GroupIDs = slices.DeleteFunc(o.GroupIDs, func(x string) bool { return x == g.ID })
			}
			g.ObjectIDs = slices.Compact(slices.Clone(in.ObjectIDs))
			for _, id := range g.ObjectIDs {
				f.objects[id].GroupIDs = append(f.objects[id].GroupIDs, g.ID)
			}
			f.mutated()
			writeJSON(w, http.StatusOK, f.groupOut(g))
		default:
			f.reject(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on a policy object group")
		}
	case len(parts) == 2 && parts[0] == "policyObjects":
		o, ok := f.objects[parts[1]]
		if !ok {
			f.reject(w, http.StatusNotFound, "Policy object not found")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, f.objectOut(o))
		case http.MethodDelete:
			for _, gid := range o.GroupIDs {
				g := f.groups[gid]
				g.ObjectIDs = slices.DeleteFunc(g.ObjectIDs, func(x string) bool { return x == o.ID })
			}
			delete(f.objects, o.ID)
			f.mutated()
			w.WriteHeader(http.StatusNoContent)
		default:
			f.reject(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on a policy object")
		}
	default:
		f.reject(w, http.StatusNotFound, fmt.Sprintf("%s %s is not part of the API", r.Method, r.URL.Path))
	}
}

// mkValidCIDR follows the documented pattern: IPv4 address or IPv4 CIDR.
func mkValidCIDR(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Is4()
	}
	p, err := netip.ParsePrefix(s)
	return err == nil && p.Addr().Is4()
}

func (f *Meraki) sortedObjects() []*mkObject {
	var out []*mkObject
	for _, o := range f.objects {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *mkObject) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (f *Meraki) sortedGroups() []*mkGroup {
	var out []*mkGroup
	for _, g := range f.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *mkGroup) int { return strings.Compare(a.ID, b.ID) })
	return out
}

var mkEpoch = time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC).Format(time.RFC3339)

func (f *Meraki) objectOut(o *mkObject) map[string]any {
	return map[string]any{"id": o.ID, "name": o.Name, "category": o.Category, "type": o.Type, "cidr": o.CIDR,
		"groupIds": o.GroupIDs, "networkIds": []string{}, "createdAt": mkEpoch, "updatedAt": mkEpoch}
}

func (f *Meraki) groupOut(g *mkGroup) map[string]any {
	return map[string]any{"id": g.ID, "name": g.Name, "category": g.Category, "objectIds": slices.Clone(g.ObjectIDs),
		"networkIds": []string{}, "createdAt": mkEpoch, "updatedAt": mkEpoch}
}

// pageOut answers a list with perPage / startingAfter paging and a Link header.
func (f *Meraki) pageOut(w http.ResponseWriter, r *http.Request, items []any, maxPer int, id func(any) string) {
	q := r.URL.Query()
	per := maxPer
	for k, v := range q {
		if len(v) != 1 || (k != "perPage" && k != "startingAfter") {
			f.reject(w, http.StatusBadRequest, "unsupported query parameter "+k)
			return
		}
	}
	if v := q.Get("perPage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 || n > maxPer {
			f.reject(w, http.StatusBadRequest, fmt.Sprintf("perPage must be between 3 and %d", maxPer))
			return
		}
		per = n
	}
	start := 0
	if after := q.Get("startingAfter"); after != "" {
		start = len(items)
		for i, it := range items {
			if id(it) == after {
				start = i + 1
			}
		}
	}
	end := min(start+per, len(items))
	page := items[start:end]
	if page == nil {
		page = []any{}
	}
	if end < len(items) {
		nq := url.Values{"perPage": {strconv.Itoa(per)}, "startingAfter": {id(items[end-1])}}
		w.Header().Set("Link", fmt.Sprintf("<%s%s?%s>; rel=next", f.srv.URL, r.URL.Path, nq.Encode()))
	}
	writeJSON(w, http.StatusOK, page)
}

var _ Faults = (*Meraki)(nil)
