package connectortest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// CheckPointUser and friends are the credentials the Check Point fake accepts.
const (
	CheckPointUser     = "warroom-api"
	CheckPointPassword = "cp-Pa55-9f2e71"
	CheckPointAPIKey   = "cpk-A1b2C3d4E5f6G7h8I9j0kL=="
)

// CheckPoint is a strict fake of the Check Point Management API (web_api): every
// command is a POST to /web_api/<command> with a JSON object body and, after login,
// the X-chkp-sid header. Objects added or changed in a session are visible only to
// that session until it publishes; publish and install-policy return a task-id
// that show-task reports "in progress" once and then "succeeded". Anything the
// documentation does not allow is refused with Check Point's {code, message} error
// and fails the test.
type CheckPoint struct {
	faults
	// URL is the server's base URL (https://127.0.0.1:port); CAFile holds its
	// certificate in PEM.
	URL    string
	CAFile string

	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	published cpState
	sessions  map[string]*cpSession
	byUID     map[string]*cpSession // every session ever opened, expired or not
	tasks     map[string]*cpTask
	logins    int
	logouts   int
	installs  []CheckPointInstall
	discards  int
	failTasks int
	expireOn  string // expire every session after the next answered command of this name
	seq       int
}

// CheckPointInstall records one accepted install-policy call.
type CheckPointInstall struct {
	PolicyPackage string
	Targets       []string
}

type cpObject struct {
	UID, Name, Type, Comments string
	IPv4, IPv6                string
	Subnet                    string // networks
	MaskLength                int
}

type cpState struct {
	objects map[string]cpObject   // by name: hosts and networks
	groups  map[string]*cpGroupSt // by name
}

type cpGroupSt struct {
	UID     string
	Members []string // object names
}

func (s cpState) clone() cpState {
	out := cpState{objects: map[string]cpObject{}, groups: map[string]*cpGroupSt{}}
	for k, v := range s.objects {
		out.objects[k] = v
	}
	for k, v := range s.groups {
		g := *v
		g.Members = slices.Clone(v.Members)
		out.groups[k] = &g
	}
	return out
}

type cpSession struct {
	uid   string
	draft *cpState // nil until the session changes something; kept when the session expires
}

type cpTask struct {
	name   string
	polls  int
	failed bool
}

// NewCheckPoint starts a Check Point fake with the given groups (none given:
// "warroom-block"). It is closed when the test ends.
func NewCheckPoint(tb testing.TB, groups ...string) *CheckPoint {
	tb.Helper()
	if len(groups) == 0 {
		groups = []string{"warroom-block"}
	}
	f := &CheckPoint{t: tb, sessions: map[string]*cpSession{}, byUID: map[string]*cpSession{}, tasks: map[string]*cpTask{},
		published: cpState{objects: map[string]cpObject{}, groups: map[string]*cpGroupSt{}}}
	for _, g := range groups {
		f.published.groups[g] = &cpGroupSt{UID: f.uid()}
	}
	f.srv, f.CAFile = startTLSFake(tb, http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

func (f *CheckPoint) uid() string {
	f.seq++
	return fmt.Sprintf("6a1f%04x-0c4e-4a8b-9d3e-%012x", f.seq, f.seq)
}

// ExpireTokens implements Faults: every session id issued so far stops working.
func (f *CheckPoint) ExpireTokens() {
	f.mu.Lock()
	f.sessions = map[string]*cpSession{}
	f.mu.Unlock()
}

// RejectCredentials implements Faults.
func (f *CheckPoint) RejectCredentials(reject bool) {
	f.setReject(reject)
	if reject {
		f.ExpireTokens()
	}
}

// Logins and Logouts count successful login and logout commands.
func (f *CheckPoint) Logins() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins
}

// Logouts counts successful logout commands.
func (f *CheckPoint) Logouts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logouts
}

// OpenSessions counts sessions that have logged in and not out (nor expired).
func (f *CheckPoint) OpenSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

// FailNextTask makes the next publish or install-policy task end "failed"; a failed
// publish leaves the changes unpublished in the session.
func (f *CheckPoint) FailNextTask() {
	f.mu.Lock()
	f.failTasks++
	f.mu.Unlock()
}

// ExpireAfter expires every session right after the next successful cmd (such as
// "add-host"), so a connector sees its session vanish in the middle of a change.
func (f *CheckPoint) ExpireAfter(cmd string) {
	f.mu.Lock()
	f.expireOn = cmd
	f.mu.Unlock()
}

// PendingDrafts counts sessions, open or expired, holding unpublished changes.
func (f *CheckPoint) PendingDrafts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.byUID {
		if s.draft != nil {
			n++
		}
	}
	return n
}

// Discards counts discard commands.
func (f *CheckPoint) Discards() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.discards
}

// Installs returns the accepted install-policy calls.
func (f *CheckPoint) Installs() []CheckPointInstall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.installs)
}

// PublishedMembers returns the published members of group, with each member's
// address ("203.0.113.7", "2001:db8::/64").
func (f *CheckPoint) PublishedMembers(group string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.published.groups[group]
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, m := range g.Members {
		o := f.published.objects[m]
		switch {
		case o.IPv4 != "":
			out[m] = o.IPv4
		case o.IPv6 != "":
			out[m] = o.IPv6
		default:
			out[m] = fmt.Sprintf("%s/%d", o.Subnet, o.MaskLength)
		}
	}
	return out
}

// SeedHost publishes a host object named name for addr and makes it a member of
// group, as an administrator would in SmartConsole.
func (f *CheckPoint) SeedHost(group, name, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := netip.MustParseAddr(addr)
	o := cpObject{UID: f.uid(), Name: name, Type: "host"}
	if a.Is4() {
		o.IPv4 = a.String()
	} else {
		o.IPv6 = a.String()
	}
	f.published.objects[name] = o
	g := f.published.groups[group]
	g.Members = append(g.Members, name)
}

// PublishedObjects returns the names of published hosts and networks.
func (f *CheckPoint) PublishedObjects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.published.objects {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func cpError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

// reject answers with Check Point's error and fails the test: the connector sent
// something the API does not accept.
func (f *CheckPoint) reject(w http.ResponseWriter, status int, code, msg string) {
	f.t.Errorf("checkpoint fake: %s: %s", code, msg)
	cpError(w, status, code, msg)
}

func (f *CheckPoint) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !f.delay(r) {
		return
	}
	cmd, ok := strings.CutPrefix(r.URL.Path, "/web_api/")
	if !ok || cmd == "" || strings.Contains(cmd, "/") || r.URL.RawQuery != "" {
		f.reject(w, http.StatusNotFound, "generic_err_command_not_found", fmt.Sprintf("Unknown path %q", r.URL.RequestURI()))
		return
	}
	if r.Method != http.MethodPost {
		f.reject(w, http.StatusMethodNotAllowed, "generic_err_invalid_syntax", "Only POST is supported, got "+r.Method)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.reject(w, http.StatusBadRequest, "generic_err_invalid_syntax", fmt.Sprintf("Content-Type must be application/json, got %q", ct))
		return
	}
	if cmd == "login" {
		f.login(w, body)
		return
	}
	sid := r.Header.Get("X-chkp-sid")
	if sid == "" {
		f.reject(w, http.StatusUnauthorized, "generic_err_missing_session_id", "Missing header: [X-chkp-sid]")
		return
	}
	f.mu.Lock()
	sess, ok := f.sessions[sid]
	f.mu.Unlock()
	if !ok {
		cpError(w, http.StatusUnauthorized, "generic_err_wrong_session_id", "Wrong session id ["+sid+"]. Session may be expired. Please check session id and resend the request")
		return
	}
	if st, ok := f.takeFailure(); ok {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			cpError(w, st, "generic_err_too_many_requests", "Too many requests, try again later")
			return
		}
		cpError(w, st, "generic_server_error", "Management server is not available")
		return
	}
	rw := &cpStatusWriter{ResponseWriter: w}
	f.command(rw, cmd, sid, sess, body)
	f.mu.Lock()
	if f.expireOn == cmd && rw.status == http.StatusOK {
		f.expireOn = ""
		f.sessions = map[string]*cpSession{}
	}
	f.mu.Unlock()
}

type cpStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *cpStatusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

func (f *CheckPoint) login(w http.ResponseWriter, body []byte) {
	var in struct {
		User               string `json:"user"`
		Password           string `json:"password"`
		APIKey             string `json:"api-key"`
		Domain             string `json:"domain"`
		SessionName        string `json:"session-name"`
		SessionDescription string `json:"session-description"`
		SessionTimeout     int    `json:"session-timeout"`
		ReadOnly           bool   `json:"read-only"`
	}
	if err := decodeStrictJSON(body, &in); err != nil {
		f.reject(w, http.StatusBadRequest, "generic_err_invalid_parameter_name", "Invalid login body: "+err.Error())
		return
	}
	switch {
	case in.APIKey != "" && (in.User != "" || in.Password != ""):
		f.reject(w, http.StatusBadRequest, "generic_err_invalid_parameter", "Use either user and password or api-key")
		return
	case in.APIKey == "" && (in.User == "" || in.Password == ""):
		f.reject(w, http.StatusBadRequest, "generic_err_missing_required_parameters", "Missing parameter: [user, password] or [api-key]")
		return
	}
	good := in.APIKey == CheckPointAPIKey || (in.User == CheckPointUser && in.Password == CheckPointPassword)
	if !good || f.rejecting() {
		cpError(w, http.StatusBadRequest, "err_login_failed", "Authentication to server failed.")
		return
	}
	sid := randomHex(20)
	f.mu.Lock()
	uid := f.uid()
	f.sessions[sid] = &cpSession{uid: uid}
	f.byUID[uid] = f.sessions[sid]
	f.logins++
	f.mu.Unlock()
	timeout := in.SessionTimeout
	if timeout == 0 {
		timeout = 600
	}
	writeJSON(w, http.StatusOK, map[string]any{"sid": sid, "url": f.URL + "/web_api", "uid": uid, "session-timeout": timeout,
		"last-login-was-at": map[string]any{"posix": 1700000000000, "iso-8601": "2023-11-14T22:13+0000"}, "read-only": in.ReadOnly,
		"api-server-version": "1.9"})
}

// view returns the state a session sees: its draft, or the published state.
func (f *CheckPoint) view(sess *cpSession) *cpState {
	if sess.draft != nil {
		return sess.draft
	}
	return &f.published
}

// write returns the session's draft, creating it.
func (f *CheckPoint) write(sess *cpSession) *cpState {
	if sess.draft == nil {
		d := f.published.clone()
		sess.draft = &d
	}
	return sess.draft
}

func (f *CheckPoint) objectJSON(o cpObject) map[string]any {
	m := map[string]any{"uid": o.UID, "name": o.Name, "type": o.Type, "comments": o.Comments,
		"domain": map[string]any{"uid": "41e821a0-3720-11e3-aa6e-0800200c9fde", "name": "SMC User", "domain-type": "domain"}}
	switch o.Type {
	case "host":
		if o.IPv4 != "" {
			m["ipv4-address"] = o.IPv4
		}
		if o.IPv6 != "" {
			m["ipv6-address"] = o.IPv6
		}
	case "network":
		if strings.Contains(o.Subnet, ":") {
			m["subnet6"], m["mask-length6"] = o.Subnet, o.MaskLength
		} else {
			m["subnet4"], m["mask-length4"] = o.Subnet, o.MaskLength
		}
	}
	return m
}

func (f *CheckPoint) command(w http.ResponseWriter, cmd, sid string, sess *cpSession, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	type named struct {
		Name         string `json:"name"`
		DetailsLevel string `json:"details-level"`
	}
	switch cmd {
	case "logout", "publish", "discard":
		var in struct {
			UID string `json:"uid"` // discard only: another session's uid
		}
		if err := decodeStrictJSON(body, &in); err != nil || (in.UID != "" && cmd != "discard") {
			f.reject(w, http.StatusBadRequest, "generic_err_invalid_parameter_name", cmd+": "+err.Error())
			return
		}
		switch cmd {
		case "logout":
			delete(f.sessions, sid)
			f.logouts++
			writeJSON(w, http.StatusOK, map[string]string{"message": "OK"})
		case "discard":
			target := sess
			if in.UID != "" {
				if target = f.byUID[in.UID]; target == nil {
					cpError(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+in.UID+"] not found")
					return
				}
			}
			n := 0
			if target.draft != nil {
				n = 1
			}
			target.draft = nil
			f.discards++
			writeJSON(w, http.StatusOK, map[string]any{"message": "OK", "number-of-discarded-changes": n})
		case "publish":
			id := f.newTask("Publish operation")
			if f.tasks[id].failed {
				writeJSON(w, http.StatusOK, map[string]string{"task-id": id})
				return
			}
			if sess.draft != nil {
				f.published = *sess.draft
				sess.draft = nil
			}
			f.mutated()
			writeJSON(w, http.StatusOK, map[string]string{"task-id": id})
		}
	case "show-task":
		var in struct {
			TaskID       string `json:"task-id"`
			DetailsLevel string `json:"details-level"`
		}
		if err := decodeStrictJSON(body, &in); err != nil || in.TaskID == "" {
			f.reject(w, http.StatusBadRequest, "generic_err_missing_required_parameters", "Missing parameter: [task-id]")
			return
		}
		tk, ok := f.tasks[in.TaskID]
		if !ok {
			f.reject(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+in.TaskID+"] not found")
			return
		}
		status, pct, comments := "succeeded", 100, ""
		switch {
		case tk.polls == 0:
			status, pct = "in progress", 40
		case tk.failed:
			status, comments = "failed", "Validation failed: object is locked by another session"
		}
		tk.polls++
		writeJSON(w, http.StatusOK, map[string]any{"tasks": []map[string]any{{"task-id": in.TaskID, "task-name": tk.name,
			"status": status, "progress-percentage": pct, "suppressed": false, "comments": comments}}})
	case "install-policy":
		var in struct {
			PolicyPackage    string   `json:"policy-package"`
			Access           *bool    `json:"access"`
			ThreatPrevention *bool    `json:"threat-prevention"`
			Targets          []string `json:"targets"`
		}
		if err := decodeStrictJSON(body, &in); err != nil || in.PolicyPackage == "" {
			f.reject(w, http.StatusBadRequest, "generic_err_missing_required_parameters", fmt.Sprintf("install-policy: missing or invalid parameter [policy-package] (%v)", err))
			return
		}
		if sess.draft != nil {
			f.reject(w, http.StatusBadRequest, "err_validation_failed", "install-policy with unpublished changes in the session")
			return
		}
		f.mutated()
		f.installs = append(f.installs, CheckPointInstall{PolicyPackage: in.PolicyPackage, Targets: in.Targets})
		writeJSON(w, http.StatusOK, map[string]string{"task-id": f.newTask("Policy installation - " + in.PolicyPackage)})
	case "show-group":
		var in named
		if err := decodeStrictJSON(body, &in); err != nil || in.Name == "" {
			f.reject(w, http.StatusBadRequest, "generic_err_missing_required_parameters", fmt.Sprintf("show-group: missing or invalid parameter [name] (%v)", err))
			return
		}
		st := f.view(sess)
		g, ok := st.groups[in.Name]
		if !ok {
			cpError(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+in.Name+"] not found")
			return
		}
		members := []map[string]any{}
		for _, m := range g.Members {
			members = append(members, f.objectJSON(st.objects[m]))
		}
		writeJSON(w, http.StatusOK, map[string]any{"uid": g.UID, "name": in.Name, "type": "group", "members": members,
			"groups": []any{}, "comments": "", "color": "black", "icon": "General/group", "read-only": false})
	case "set-group":
		var in struct {
			Name    string `json:"name"`
			Members struct {
				Add    cpNames `json:"add"`
				Remove cpNames `json:"remove"`
			} `json:"members"`
		}
		if err := decodeStrictJSON(body, &in); err != nil || in.Name == "" || len(in.Members.Add)+len(in.Members.Remove) == 0 {
			f.reject(w, http.StatusBadRequest, "generic_err_invalid_parameter", fmt.Sprintf("set-group: want name and members {add|remove} (%v)", err))
			return
		}
		st := f.write(sess)
		g, ok := st.groups[in.Name]
		if !ok {
			f.reject(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+in.Name+"] not found")
			return
		}
		for _, m := range in.Members.Add {
			if _, ok := st.objects[m]; !ok {
				f.reject(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+m+"] not found")
				return
			}
			if slices.Contains(g.Members, m) {
				f.t.Errorf("checkpoint fake: set-group adds %s, already a member of %s: the connector did not check first", m, in.Name)
				continue
			}
			g.Members = append(g.Members, m)
		}
		for _, m := range in.Members.Remove {
			i := slices.Index(g.Members, m)
			if i < 0 {
				f.reject(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+m+"] is not a member of ["+in.Name+"]")
				return
			}
			g.Members = slices.Delete(g.Members, i, i+1)
		}
		f.mutated()
		writeJSON(w, http.StatusOK, map[string]any{"uid": g.UID, "name": in.Name, "type": "group"})
	case "show-host", "show-network":
		var in named
		if err := decodeStrictJSON(body, &in); err != nil || in.Name == "" {
			f.reject(w, http.StatusBadRequest, "generic_err_missing_required_parameters", fmt.Sprintf("%s: missing or invalid parameter [name] (%v)", cmd, err))
			return
		}
		o, ok := f.view(sess).objects[in.Name]
		if !ok || "show-"+o.Type != cmd {
			cpError(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+in.Name+"] not found")
			return
		}
		writeJSON(w, http.StatusOK, f.objectJSON(o))
	case "add-host", "add-network":
		var in struct {
			Name           string `json:"name"`
			IPAddress      string `json:"ip-address"`
			Subnet         string `json:"subnet"`
			MaskLength     *int   `json:"mask-length"`
			Comments       string `json:"comments"`
			IgnoreWarnings bool   `json:"ignore-warnings"`
		}
		if err := decodeStrictJSON(body, &in); err != nil || in.Name == "" {
			f.reject(w, http.StatusBadRequest, "generic_err_invalid_parameter_name", fmt.Sprintf("%s: %v", cmd, err))
			return
		}
		o := cpObject{Name: in.Name, Comments: in.Comments}
		if cmd == "add-host" {
			a, err := netip.ParseAddr(in.IPAddress)
			if err != nil || in.Subnet != "" || in.MaskLength != nil {
				f.reject(w, http.StatusBadRequest, "generic_err_invalid_parameter", "add-host: ip-address ["+in.IPAddress+"] is invalid")
				return
			}
			o.Type = "host"
			if a.Is4() {
				o.IPv4 = a.String()
			} else {
				o.IPv6 = a.String()
			}
		} else {
			a, err := netip.ParseAddr(in.Subnet)
			if err != nil || in.IPAddress != "" || in.MaskLength == nil || *in.MaskLength < 0 || *in.MaskLength > a.BitLen() {
				f.reject(w, http.StatusBadRequest, "generic_err_invalid_parameter", "add-network: subnet and mask-length are required and must be valid")
				return
			}
			o.Type, o.Subnet, o.MaskLength = "network", a.String(), *in.MaskLength
		}
		st := f.write(sess)
		if _, dup := st.objects[in.Name]; dup {
			f.t.Errorf("checkpoint fake: %s %s, which exists: the connector did not look it up first", cmd, in.Name)
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": "err_validation_failed", "message": "Validation failed with 1 error",
				"errors": []map[string]any{{"message": "More than one object named '" + in.Name + "' exists."}}})
			return
		}
		o.UID = f.uid()
		st.objects[in.Name] = o
		f.mutated()
		writeJSON(w, http.StatusOK, f.objectJSON(o))
	case "delete-host", "delete-network":
		var in struct {
			Name           string `json:"name"`
			IgnoreWarnings bool   `json:"ignore-warnings"`
		}
		if err := decodeStrictJSON(body, &in); err != nil || in.Name == "" {
			f.reject(w, http.StatusBadRequest, "generic_err_missing_required_parameters", fmt.Sprintf("%s: missing or invalid parameter [name] (%v)", cmd, err))
			return
		}
		st := f.write(sess)
		o, ok := st.objects[in.Name]
		if !ok || "delete-"+o.Type != cmd {
			f.reject(w, http.StatusNotFound, "generic_err_object_not_found", "Requested object ["+in.Name+"] not found")
			return
		}
		for gn, g := range st.groups {
			if slices.Contains(g.Members, in.Name) {
				f.reject(w, http.StatusBadRequest, "err_validation_failed", "Object ["+in.Name+"] is used by group ["+gn+"]")
				return
			}
		}
		delete(st.objects, in.Name)
		f.mutated()
		writeJSON(w, http.StatusOK, map[string]string{"message": "OK"})
	default:
		f.reject(w, http.StatusNotFound, "generic_err_command_not_found", "Unknown command \""+cmd+"\"")
	}
}

// cpNames is a value the API takes as one name or a list of names.
type cpNames []string

func (n *cpNames) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*n = cpNames{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a name or a list of names: %w", err)
	}
	*n = many
	return nil
}

func (f *CheckPoint) newTask(name string) string {
	id := fmt.Sprintf("01234567-89ab-cdef-%04x-%012x", f.seq, f.seq)
	f.seq++
	f.tasks[id] = &cpTask{name: name, failed: f.failTasks > 0}
	if f.failTasks > 0 {
		f.failTasks--
	}
	return id
}

var _ Faults = (*CheckPoint)(nil)
