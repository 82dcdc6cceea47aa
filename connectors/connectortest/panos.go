package connectortest

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PANOS is a strict fake of the PAN-OS XML API (/api/) on 127.0.0.1 over HTTPS. It
// implements type=keygen, type=user-id (uid-message register and unregister of IP
// tags, with timeout and persistent attributes) and type=op "show object
// registered-ip" filtered by ip or by tag (with limit and start-point). It also
// keeps a candidate and a running configuration of address objects and address
// groups per vsys: type=config set/delete/get (candidate) and show (running) on
// their xpaths, type=commit (full, or action=partial for admins) starting a job
// that <show><jobs><id>N</id></jobs></show> reports ACT for SetCommitPolls reads,
// then FIN with result OK (the running configuration becomes the candidate) or
// FAIL (FailCommits, or a static group left empty). Keys travel
// in the X-PAN-KEY header or the key parameter. Anything else is answered with
// PAN-OS's own <response status="error" code="..."> and, when the connector under
// test is at fault, fails the test.
type PANOS struct {
	URL    string // https://127.0.0.1:port
	CAFile string // PEM file holding the server certificate
	// User and Password are the credentials type=keygen accepts.
	User, Password string
	// Vsys lists the virtual systems (default vsys1).
	Vsys []string
	// Now is the fake's clock for tag timeouts (default time.Now).
	Now func() time.Time

	faults
	tb     testing.TB
	mu     sync.Mutex
	key    map[string]bool                         // keys the firewall accepts
	issued []string                                // every key issued, in order
	reg    map[string]map[string]map[string]panTag // vsys → address → tag → registration

	// The configuration: candidate and running, commit jobs.
	candidate, running *panConfig
	jobs               map[int]*panJob
	nextJob            int
	commitPolls        int    // job reads answering ACT before FIN (<0: never)
	commitFail         string // non-empty: commit jobs fail with this detail
	commits            []PANOSCommit
	jobReads           int
}

// PANOSCommit records one commit request the fake accepted.
type PANOSCommit struct {
	Partial bool
	Admins  []string // the partial commit's admin scope
	Job     int      // 0: nothing to commit
}

type panTag struct {
	expires    time.Time // zero: no timeout
	persistent bool
}

var _ Faults = (*PANOS)(nil)

// NewPANOS starts the fake, closed when the test ends.
func NewPANOS(tb testing.TB) *PANOS {
	tb.Helper()
	p := &PANOS{User: "warroom-api", Password: "pan-" + randomHex(8), Vsys: []string{"vsys1"}, Now: time.Now, tb: tb,
		key: map[string]bool{}, reg: map[string]map[string]map[string]panTag{},
		candidate: newPanConfig(), running: newPanConfig(), jobs: map[int]*panJob{}, commitPolls: 1}
	srv, ca := startTLSFake(tb, http.HandlerFunc(p.serve))
	p.URL, p.CAFile = srv.URL, ca
	return p
}

// IssueKey returns a key the firewall accepts, as an administrator would generate
// in the web interface.
func (p *PANOS) IssueKey() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := "LUFRPT" + randomHex(24)
	p.key[k] = true
	p.issued = append(p.issued, k)
	return k
}

// Keys returns every key issued so far, valid or not.
func (p *PANOS) Keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

// ExpireTokens invalidates every API key issued so far (as an expired key lifetime
// or a changed password does); keygen issues new ones.
func (p *PANOS) ExpireTokens() {
	p.mu.Lock()
	p.key = map[string]bool{}
	p.mu.Unlock()
}

// RejectCredentials makes keygen refuse the user and invalidates issued keys.
func (p *PANOS) RejectCredentials(reject bool) {
	p.setReject(reject)
	if reject {
		p.ExpireTokens()
	}
}

// Register tags addr in vsys directly, as another source would (timeout 0: none).
func (p *PANOS) Register(vsys, addr, tag string, timeout time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var exp time.Time
	if timeout > 0 {
		exp = p.Now().Add(timeout)
	}
	p.tagsLocked(vsys, addr)[tag] = panTag{expires: exp, persistent: true}
}

// Tagged reports whether addr carries tag in vsys, and when the tag times out.
func (p *PANOS) Tagged(vsys, addr, tag string) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked()
	t, ok := p.reg[vsys][addr][tag]
	return ok, t.expires
}

func (p *PANOS) tagsLocked(vsys, addr string) map[string]panTag {
	if p.reg[vsys] == nil {
		p.reg[vsys] = map[string]map[string]panTag{}
	}
	if p.reg[vsys][addr] == nil {
		p.reg[vsys][addr] = map[string]panTag{}
	}
	return p.reg[vsys][addr]
}

func (p *PANOS) expireLocked() {
	now := p.Now()
	for _, addrs := range p.reg {
		for a, tags := range addrs {
			for t, r := range tags {
				if !r.expires.IsZero() && !now.Before(r.expires) {
					delete(tags, t)
				}
			}
			if len(tags) == 0 {
				delete(addrs, a)
			}
		}
	}
}

func panWrite(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func panError(w http.ResponseWriter, status int, code, msg string) {
	var b strings.Builder
	xml.EscapeText(&b, []byte(msg))
	c := ""
	if code != "" {
		c = fmt.Sprintf(` code="%s"`, code)
	}
	panWrite(w, status, fmt.Sprintf(`<response status="error"%s><result><msg>%s</msg></result></response>`, c, b.String()))
}

func (p *PANOS) serve(w http.ResponseWriter, r *http.Request) {
	if !p.delay(r) {
		return
	}
	if r.URL.Path != "/api/" {
		p.tb.Errorf("panos fake: %s %s: the XML API is at /api/", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		p.tb.Errorf("panos fake: method %s; the XML API takes GET or POST", r.Method)
		panError(w, http.StatusMethodNotAllowed, "400", "Method not allowed")
		return
	}
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") && !strings.HasPrefix(ct, "multipart/form-data") {
			p.tb.Errorf("panos fake: POST with Content-Type %q; want application/x-www-form-urlencoded", ct)
			panError(w, http.StatusBadRequest, "400", "Bad request")
			return
		}
		for _, k := range []string{"key", "password"} {
			if r.URL.Query().Has(k) {
				p.tb.Errorf("panos fake: %s sent in the URL of a POST; put it in the body or the X-PAN-KEY header", k)
			}
		}
	}
	if err := r.ParseForm(); err != nil {
		panError(w, http.StatusBadRequest, "400", "Bad request: "+err.Error())
		return
	}
	typ := r.Form.Get("type")
	if typ == "keygen" {
		p.keygen(w, r)
		return
	}
	key := r.Header.Get("X-PAN-KEY")
	if key == "" {
		key = r.Form.Get("key")
	}
	p.mu.Lock()
	valid := p.key[key]
	p.mu.Unlock()
	if !valid || p.rejecting() {
		panError(w, http.StatusForbidden, "403", "Invalid Credential")
		return
	}
	if code, ok := p.takeFailure(); ok {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		panError(w, code, "", http.StatusText(code))
		return
	}
	vsys := r.Form.Get("vsys")
	if vsys == "" {
		vsys = "vsys1"
	}
	cmd := r.Form.Get("cmd")
	if typ == "op" && strings.HasPrefix(cmd, "<show><jobs>") {
		p.showJob(w, cmd)
		return
	}
	switch typ {
	case "config":
		p.config(w, r)
		return
	case "commit":
		p.commit(w, r)
		return
	}
	if !p.knownVsys(vsys) {
		panError(w, http.StatusOK, "12", fmt.Sprintf("Invalid vsys %s", vsys))
		return
	}
	switch typ {
	case "user-id":
		p.userID(w, vsys, cmd)
	case "op":
		p.op(w, vsys, cmd)
	default:
		p.tb.Errorf("panos fake: request type %q is not one the connector should use", typ)
		panError(w, http.StatusBadRequest, "400", fmt.Sprintf("Illegal value for parameter \"type\" [%s].", typ))
	}
}

func (p *PANOS) keygen(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		p.tb.Errorf("panos fake: keygen over GET puts the password in the URL; use POST")
	}
	user, pass := r.Form.Get("user"), r.Form.Get("password")
	if user == "" || pass == "" {
		p.tb.Errorf("panos fake: keygen without user or password")
		panError(w, http.StatusBadRequest, "400", "Missing parameter")
		return
	}
	if p.rejecting() || user != p.User || pass != p.Password {
		panError(w, http.StatusForbidden, "403", "Invalid Credential")
		return
	}
	k := p.IssueKey()
	panWrite(w, http.StatusOK, fmt.Sprintf(`<response status="success"><result><key>%s</key></result></response>`, k))
}

// panAnyElement catches elements a strict decoder does not expect.
type panAnyElement struct {
	XMLName xml.Name
}

func panUnexpected(els []panAnyElement) string {
	var s []string
	for _, a := range els {
		s = append(s, a.XMLName.Local)
	}
	return strings.Join(s, ", ")
}

type fakeUIDMessage struct {
	XMLName xml.Name `xml:"uid-message"`
	Version string   `xml:"version"`
	Type    string   `xml:"type"`
	Payload struct {
		Register   *fakeUIDEntries `xml:"register"`
		Unregister *fakeUIDEntries `xml:"unregister"`
		Any        []panAnyElement `xml:",any"`
	} `xml:"payload"`
	Any []panAnyElement `xml:",any"`
}

type fakeUIDEntries struct {
	Entries []struct {
		IP         string `xml:"ip,attr"`
		Persistent string `xml:"persistent,attr"`
		Tag        struct {
			Members []struct {
				Timeout string `xml:"timeout,attr"`
				Name    string `xml:",chardata"`
			} `xml:"member"`
		} `xml:"tag"`
		Any []panAnyElement `xml:",any"`
	} `xml:"entry"`
	Any []panAnyElement `xml:",any"`
}

// panAddress checks a registered-ip object: an IPv4 or IPv6 host, or an IPv4
// network, and returns the form PAN-OS shows.
func panAddress(s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap().String(), true
	}
	if pf, err := netip.ParsePrefix(s); err == nil && pf.Addr().Is4() && pf.Masked() == pf {
		if pf.IsSingleIP() {
			return pf.Addr().String(), true
		}
		return pf.String(), true
	}
	return "", false
}

func (p *PANOS) userID(w http.ResponseWriter, vsys, cmd string) {
	var m fakeUIDMessage
	if err := xml.Unmarshal([]byte(cmd), &m); err != nil {
		p.tb.Errorf("panos fake: uid-message does not parse: %v\n%s", err, cmd)
		panError(w, http.StatusOK, "18", "Malformed command: "+err.Error())
		return
	}
	bad := func(format string, a ...any) {
		p.tb.Errorf("panos fake: uid-message: "+format+"\n%s", append(a, cmd)...)
		panError(w, http.StatusOK, "17", fmt.Sprintf(format, a...))
	}
	switch {
	case m.Version != "1.0" && m.Version != "2.0":
		bad("version %q; want 1.0 or 2.0", m.Version)
		return
	case m.Type != "update":
		bad("type %q; want update", m.Type)
		return
	case len(m.Any) > 0 || len(m.Payload.Any) > 0:
		bad("unexpected elements %s", panUnexpected(append(m.Any, m.Payload.Any...)))
		return
	case m.Payload.Register == nil && m.Payload.Unregister == nil:
		bad("payload holds neither register nor unregister")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked()
	var notes []string
	changed := 0
	apply := func(es *fakeUIDEntries, register bool) bool {
		if es == nil {
			return true
		}
		if len(es.Any) > 0 || len(es.Entries) == 0 {
			bad("register/unregister needs <entry> elements only")
			return false
		}
		for _, e := range es.Entries {
			addr, ok := panAddress(e.IP)
			if !ok || len(e.Any) > 0 || len(e.Tag.Members) == 0 {
				bad("entry ip=%q: want an IPv4/IPv6 host or IPv4 network with <tag><member>", e.IP)
				return false
			}
			if e.Persistent != "" && e.Persistent != "0" && e.Persistent != "1" {
				bad("entry ip=%q: persistent=%q; want 0 or 1", e.IP, e.Persistent)
				return false
			}
			for _, mb := range e.Tag.Members {
				tag := mb.Name
				if tag == "" || len(tag) > 127 || strings.ContainsAny(tag, `'"`) {
					bad("entry ip=%q: invalid tag %q", e.IP, tag)
					return false
				}
				if !register {
					if mb.Timeout != "" {
						bad("unregister member %q carries a timeout", tag)
						return false
					}
					if _, ok := p.reg[vsys][addr][tag]; !ok {
						notes = append(notes, fmt.Sprintf(`<entry ip="%s" message="tag %s does not exist, ignore unreg"/>`, addr, tag))
						continue
					}
					delete(p.reg[vsys][addr], tag)
					changed++
					continue
				}
				var exp time.Time
				if mb.Timeout != "" {
					n, err := strconv.Atoi(mb.Timeout)
					if err != nil || n < 0 || n > 2592000 {
						bad("member %q: timeout=%q; want 0..2592000 seconds", tag, mb.Timeout)
						return false
					}
					if n > 0 {
						exp = p.Now().Add(time.Duration(n) * time.Second)
					}
				}
				if _, ok := p.reg[vsys][addr][tag]; ok {
					notes = append(notes, fmt.Sprintf(`<entry ip="%s" message="tag %s already exists, ignore"/>`, addr, tag))
					continue
				}
				p.tagsLocked(vsys, addr)[tag] = panTag{expires: exp, persistent: e.Persistent != "0"}
				changed++
			}
		}
		return true
	}
	if !apply(m.Payload.Unregister, false) || !apply(m.Payload.Register, true) {
		return
	}
	if changed > 0 {
		p.mutated()
	}
	if len(notes) > 0 {
		panWrite(w, http.StatusOK, `<response status="error"><msg><line><uid-response><version>2.0</version><payload>`+
			strings.Join(notes, "")+`</payload></uid-response></line></msg></response>`)
		return
	}
	panWrite(w, http.StatusOK, `<response status="success"><result><uid-response><version>2.0</version><payload></payload></uid-response></result></response>`)
}

type fakeOpShow struct {
	XMLName xml.Name `xml:"show"`
	Object  *struct {
		Registered *struct {
			IP  string `xml:"ip"`
			Tag *struct {
				Entry *struct {
					Name string `xml:"name,attr"`
				} `xml:"entry"`
			} `xml:"tag"`
			Limit string          `xml:"limit"`
			Start string          `xml:"start-point"`
			Any   []panAnyElement `xml:",any"`
		} `xml:"registered-ip"`
		Any []panAnyElement `xml:",any"`
	} `xml:"object"`
	Any []panAnyElement `xml:",any"`
}

func (p *PANOS) op(w http.ResponseWriter, vsys, cmd string) {
	var s fakeOpShow
	if err := xml.Unmarshal([]byte(cmd), &s); err != nil || s.Object == nil || s.Object.Registered == nil ||
		len(s.Any) > 0 || len(s.Object.Any) > 0 || len(s.Object.Registered.Any) > 0 {
		p.tb.Errorf("panos fake: op command %q is not <show><object><registered-ip>...", cmd)
		panWrite(w, http.StatusOK, `<response status="error"><msg><line>Invalid syntax.</line></msg></response>`)
		return
	}
	f := s.Object.Registered
	tag := ""
	if f.Tag != nil {
		if f.Tag.Entry == nil || f.Tag.Entry.Name == "" {
			p.tb.Errorf("panos fake: tag filter without <entry name=...>: %s", cmd)
			panWrite(w, http.StatusOK, `<response status="error"><msg><line>Invalid syntax.</line></msg></response>`)
			return
		}
		tag = f.Tag.Entry.Name
	}
	ip := ""
	if f.IP != "" {
		a, ok := panAddress(f.IP)
		if !ok {
			p.tb.Errorf("panos fake: ip filter %q is not an address", f.IP)
			panError(w, http.StatusOK, "17", "Invalid ip "+f.IP)
			return
		}
		ip = a
	}
	limit, start := 500, 1
	for _, v := range []struct {
		s   string
		dst *int
		max int
	}{{f.Limit, &limit, 500}, {f.Start, &start, 1 << 30}} {
		if v.s == "" {
			continue
		}
		n, err := strconv.Atoi(v.s)
		if err != nil || n < 1 || n > v.max {
			p.tb.Errorf("panos fake: limit/start-point %q out of range", v.s)
			panError(w, http.StatusOK, "17", "Invalid value "+v.s)
			return
		}
		*v.dst = n
	}
	p.mu.Lock()
	p.expireLocked()
	var addrs []string
	for a, tags := range p.reg[vsys] {
		if ip != "" && a != ip {
			continue
		}
		if _, ok := tags[tag]; tag != "" && !ok {
			continue
		}
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	n := 0
	for i, a := range addrs {
		if i+1 < start || n >= limit {
			continue
		}
		n++
		tags := p.reg[vsys][a]
		persistent := "0"
		var names []string
		for t, r := range tags {
			names = append(names, t)
			if r.persistent {
				persistent = "1"
			}
		}
		sort.Strings(names)
		fmt.Fprintf(&b, `<entry ip="%s" from_agent="0" persistent="%s"><tag>`, a, persistent)
		for _, t := range names {
			b.WriteString("<member>")
			xml.EscapeText(&b, []byte(t))
			b.WriteString("</member>")
		}
		b.WriteString("</tag></entry>")
	}
	p.mu.Unlock()
	fmt.Fprintf(&b, "<count>%d</count></result></response>", n)
	panWrite(w, http.StatusOK, b.String())
}

// The configuration part of the PAN-OS fake: type=config (set, delete, get of the
// candidate, show of the running configuration) for address objects and static
// address groups under a vsys, type=commit (full, or partial for admins) that
// starts a job, and type=op <show><jobs><id>N</id></jobs></show>.

type panAddr struct{ netmask, description string }

type panGroup struct {
	static  []string
	dynamic string // match filter of a dynamic group ("": static)
}

type panConfig struct {
	addrs  map[string]map[string]panAddr   // vsys → name → object
	groups map[string]map[string]*panGroup // vsys → name → group
}

func newPanConfig() *panConfig {
	return &panConfig{addrs: map[string]map[string]panAddr{}, groups: map[string]map[string]*panGroup{}}
}

func (c *panConfig) clone() *panConfig {
	n := newPanConfig()
	for v, as := range c.addrs {
		n.addrs[v] = maps.Clone(as)
	}
	for v, gs := range c.groups {
		n.groups[v] = map[string]*panGroup{}
		for name, g := range gs {
			n.groups[v][name] = &panGroup{static: slices.Clone(g.static), dynamic: g.dynamic}
		}
	}
	return n
}

func (c *panConfig) equal(o *panConfig) bool {
	norm := func(c *panConfig) (map[string]map[string]panAddr, map[string]map[string]panGroup) {
		as := map[string]map[string]panAddr{}
		for v, m := range c.addrs {
			if len(m) > 0 {
				as[v] = m
			}
		}
		gs := map[string]map[string]panGroup{}
		for v, m := range c.groups {
			if len(m) == 0 {
				continue
			}
			gs[v] = map[string]panGroup{}
			for name, g := range m {
				st := slices.Clone(g.static)
				slices.Sort(st)
				if len(st) == 0 {
					st = nil
				}
				gs[v][name] = panGroup{static: st, dynamic: g.dynamic}
			}
		}
		return as, gs
	}
	a1, g1 := norm(c)
	a2, g2 := norm(o)
	return reflect.DeepEqual(a1, a2) && reflect.DeepEqual(g1, g2)
}

func (c *panConfig) addrsOf(vsys string) map[string]panAddr {
	if c.addrs[vsys] == nil {
		c.addrs[vsys] = map[string]panAddr{}
	}
	return c.addrs[vsys]
}

func (c *panConfig) groupsOf(vsys string) map[string]*panGroup {
	if c.groups[vsys] == nil {
		c.groups[vsys] = map[string]*panGroup{}
	}
	return c.groups[vsys]
}

type panJob struct {
	id       int
	left     int // reads still answering ACT (<0: forever)
	fail     []string
	snapshot *panConfig
	status   string // ACT, FIN
	result   string // PEND, OK, FAIL
}

func (p *PANOS) knownVsys(vsys string) bool {
	return slices.Contains(p.Vsys, vsys)
}

// AddAddress creates address object name (ip-netmask value) in vsys, in both the
// candidate and the running configuration, as an administrator would.
func (p *PANOS) AddAddress(vsys, name, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []*panConfig{p.candidate, p.running} {
		c.addrsOf(vsys)[name] = panAddr{netmask: value}
	}
}

// AddAddressGroup creates a static address group holding members (address object
// names) in vsys, in both configurations.
func (p *PANOS) AddAddressGroup(vsys, name string, members ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []*panConfig{p.candidate, p.running} {
		c.groupsOf(vsys)[name] = &panGroup{static: slices.Clone(members)}
	}
}

// AddDynamicGroup creates a dynamic address group matching filter in vsys.
func (p *PANOS) AddDynamicGroup(vsys, name, filter string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []*panConfig{p.candidate, p.running} {
		c.groupsOf(vsys)[name] = &panGroup{dynamic: filter}
	}
}

// GroupMembers returns the static members of group in vsys, from the running or
// the candidate configuration, sorted.
func (p *PANOS) GroupMembers(vsys, group string, running bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.candidate
	if running {
		c = p.running
	}
	g := c.groups[vsys][group]
	if g == nil {
		return nil
	}
	out := slices.Clone(g.static)
	slices.Sort(out)
	return out
}

// Address returns the ip-netmask of address object name in vsys (running or
// candidate configuration).
func (p *PANOS) Address(vsys, name string, running bool) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.candidate
	if running {
		c = p.running
	}
	a, ok := c.addrs[vsys][name]
	return a.netmask, ok
}

// SetCommitPolls sets how many reads of a commit job started from now on answer
// ACT before it finishes; n < 0 keeps it running forever.
func (p *PANOS) SetCommitPolls(n int) {
	p.mu.Lock()
	p.commitPolls = n
	p.mu.Unlock()
}

// FailCommits makes commit jobs started from now on finish with result FAIL and
// detail as their details (as a validation error would); "" lets them succeed.
func (p *PANOS) FailCommits(detail string) {
	p.mu.Lock()
	p.commitFail = detail
	p.mu.Unlock()
}

// Commits returns the commit requests accepted so far.
func (p *PANOS) Commits() []PANOSCommit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.commits)
}

// JobReads counts the show-jobs requests answered.
func (p *PANOS) JobReads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jobReads
}

var panXPathRE = regexp.MustCompile(`^/config/devices/entry\[@name='localhost\.localdomain'\]/vsys/entry\[@name='([^']+)'\]/(address|address-group)/entry\[@name='([^']+)'\](/static(/member\[text\(\)='([^']+)'\])?)?$`)

// panBad answers a request the connector should never send, and fails the test.
func (p *PANOS) panBad(w http.ResponseWriter, code, format string, a ...any) {
	p.tb.Errorf("panos fake: "+format, a...)
	panError(w, http.StatusOK, code, fmt.Sprintf(format, a...))
}

func (p *PANOS) config(w http.ResponseWriter, r *http.Request) {
	action, xpath, element := r.Form.Get("action"), r.Form.Get("xpath"), r.Form.Get("element")
	m := panXPathRE.FindStringSubmatch(xpath)
	if m == nil {
		p.panBad(w, "6", "Bad Xpath %q: want an address or address-group entry under a vsys", xpath)
		return
	}
	vsys, kind, name, static, member := m[1], m[2], m[3], m[4] != "", m[6]
	if !p.knownVsys(vsys) {
		panError(w, http.StatusOK, "12", fmt.Sprintf("vsys %s does not exist", vsys))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch action {
	case "get", "show":
		if static || element != "" {
			p.panBad(w, "17", "%s takes the entry's xpath and no element", action)
			return
		}
		p.readConfig(w, action, vsys, kind, name)
	case "set":
		if member != "" || element == "" {
			p.panBad(w, "17", "set takes an xpath without a member predicate and an element")
			return
		}
		if kind == "address" {
			if static {
				p.panBad(w, "6", "Bad Xpath %q: an address has no static", xpath)
				return
			}
			p.setAddress(w, vsys, name, element)
			return
		}
		if !static {
			p.panBad(w, "17", "set the group's members under .../static, not the group itself")
			return
		}
		p.setMembers(w, vsys, name, element)
	case "delete":
		if element != "" {
			p.panBad(w, "17", "delete takes no element")
			return
		}
		p.deleteConfig(w, vsys, kind, name, static, member)
	default:
		p.panBad(w, "400", "Illegal value for parameter \"action\" [%s]", action)
	}
}

func (p *PANOS) readConfig(w http.ResponseWriter, action, vsys, kind, name string) {
	c := p.candidate
	if action == "show" {
		c = p.running
	}
	var b strings.Builder
	attrs := ""
	if action == "get" {
		attrs = fmt.Sprintf(` admin="%s" dirtyId="1" time="2025/01/01 00:00:00"`, p.User)
	}
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	found := false
	if kind == "address" {
		if a, ok := c.addrs[vsys][name]; ok {
			found = true
			fmt.Fprintf(&b, `<entry name="%s"%s><ip-netmask>%s</ip-netmask>`, esc(name), attrs, esc(a.netmask))
			if a.description != "" {
				fmt.Fprintf(&b, "<description>%s</description>", esc(a.description))
			}
			b.WriteString("</entry>")
		}
	} else if g, ok := c.groups[vsys][name]; ok {
		found = true
		fmt.Fprintf(&b, `<entry name="%s"%s>`, esc(name), attrs)
		if g.dynamic != "" {
			fmt.Fprintf(&b, "<dynamic><filter>%s</filter></dynamic>", esc(g.dynamic))
		} else {
			b.WriteString("<static>")
			for _, mb := range g.static {
				fmt.Fprintf(&b, "<member%s>%s</member>", attrs, esc(mb))
			}
			b.WriteString("</static>")
		}
		b.WriteString("</entry>")
	}
	switch {
	case !found && action == "show":
		panWrite(w, http.StatusOK, `<response status="error" code="7"><msg><line>No such node</line></msg></response>`)
	case !found:
		panWrite(w, http.StatusOK, `<response status="success" code="7"><result total-count="0" count="0"/></response>`)
	case action == "show":
		panWrite(w, http.StatusOK, `<response status="success"><result>`+b.String()+`</result></response>`)
	default:
		panWrite(w, http.StatusOK, `<response status="success" code="19"><result total-count="1" count="1">`+b.String()+`</result></response>`)
	}
}

func (p *PANOS) setAddress(w http.ResponseWriter, vsys, name, element string) {
	var el struct {
		Netmask     *string         `xml:"ip-netmask"`
		Description *string         `xml:"description"`
		Any         []panAnyElement `xml:",any"`
	}
	if err := xml.Unmarshal([]byte("<entry>"+element+"</entry>"), &el); err != nil || len(el.Any) > 0 || el.Netmask == nil {
		p.panBad(w, "12", "address %s: element %q: want <ip-netmask> and an optional <description> (%v)", name, element, err)
		return
	}
	v := strings.TrimSpace(*el.Netmask)
	if _, err := netip.ParsePrefix(v); err != nil {
		if _, err := netip.ParseAddr(v); err != nil {
			p.panBad(w, "12", "address %s: ip-netmask %q is not an address or network", name, v)
			return
		}
	}
	if len(name) > 63 {
		p.panBad(w, "12", "address %s: the name is longer than 63 characters", name)
		return
	}
	a := p.candidate.addrsOf(vsys)[name]
	old := a
	a.netmask = v
	if el.Description != nil {
		a.description = *el.Description
	}
	p.candidate.addrsOf(vsys)[name] = a
	if a != old {
		p.mutated()
	}
	panWrite(w, http.StatusOK, `<response status="success" code="20"><msg>command succeeded</msg></response>`)
}

func (p *PANOS) setMembers(w http.ResponseWriter, vsys, group, element string) {
	var el struct {
		Members []string        `xml:"member"`
		Any     []panAnyElement `xml:",any"`
	}
	if err := xml.Unmarshal([]byte("<static>"+element+"</static>"), &el); err != nil || len(el.Any) > 0 || len(el.Members) == 0 {
		p.panBad(w, "12", "address-group %s: element %q: want <member> elements (%v)", group, element, err)
		return
	}
	g := p.candidate.groups[vsys][group]
	if g == nil {
		p.panBad(w, "12", "address-group %s does not exist; set would create it, which the connector must not do", group)
		return
	}
	if g.dynamic != "" {
		p.panBad(w, "12", "address-group %s is dynamic: static and dynamic are mutually exclusive", group)
		return
	}
	changed := false
	for _, mb := range el.Members {
		if _, ok := p.candidate.addrs[vsys][mb]; !ok {
			p.panBad(w, "12", "address-group %s: member %s is not a valid reference (create the address first)", group, mb)
			return
		}
		if !slices.Contains(g.static, mb) {
			g.static = append(g.static, mb)
			changed = true
		}
	}
	if changed {
		p.mutated()
	}
	panWrite(w, http.StatusOK, `<response status="success" code="20"><msg>command succeeded</msg></response>`)
}

func (p *PANOS) deleteConfig(w http.ResponseWriter, vsys, kind, name string, static bool, member string) {
	gone := func() {
		panWrite(w, http.StatusOK, `<response status="error" code="7"><msg><line>Object doesn't exist</line></msg></response>`)
	}
	if kind == "address" {
		if static {
			p.panBad(w, "6", "Bad Xpath: an address has no static")
			return
		}
		if _, ok := p.candidate.addrs[vsys][name]; !ok {
			gone()
			return
		}
		for gname, g := range p.candidate.groups[vsys] {
			if slices.Contains(g.static, name) {
				panError(w, http.StatusOK, "10", fmt.Sprintf("%s cannot be deleted because of references from: address-group -> %s -> static", name, gname))
				return
			}
		}
		delete(p.candidate.addrs[vsys], name)
		p.mutated()
		panWrite(w, http.StatusOK, `<response status="success" code="20"><msg>command succeeded</msg></response>`)
		return
	}
	if member == "" {
		p.panBad(w, "17", "the connector deletes group members, never a group or its static list")
		return
	}
	g := p.candidate.groups[vsys][name]
	if g == nil || !slices.Contains(g.static, member) {
		gone()
		return
	}
	g.static = slices.DeleteFunc(g.static, func(s string) bool { return s == member })
	p.mutated()
	panWrite(w, http.StatusOK, `<response status="success" code="20"><msg>command succeeded</msg></response>`)
}

func (p *PANOS) commit(w http.ResponseWriter, r *http.Request) {
	action, cmd := r.Form.Get("action"), r.Form.Get("cmd")
	var c struct {
		XMLName xml.Name `xml:"commit"`
		Partial *struct {
			Admin *struct {
				Members []string `xml:"member"`
			} `xml:"admin"`
			Any []panAnyElement `xml:",any"`
		} `xml:"partial"`
		Any []panAnyElement `xml:",any"`
	}
	if err := xml.Unmarshal([]byte(cmd), &c); err != nil || len(c.Any) > 0 {
		p.panBad(w, "18", "commit cmd %q: want <commit></commit> or a partial commit (%v)", cmd, err)
		return
	}
	rec := PANOSCommit{}
	switch action {
	case "":
		if c.Partial != nil {
			p.panBad(w, "17", "a <partial> commit needs action=partial")
			return
		}
	case "partial":
		if c.Partial == nil || c.Partial.Admin == nil || len(c.Partial.Admin.Members) == 0 || len(c.Partial.Any) > 0 {
			p.panBad(w, "17", "action=partial: want <commit><partial><admin><member>NAME</member></admin></partial></commit>, got %q", cmd)
			return
		}
		rec.Partial, rec.Admins = true, c.Partial.Admin.Members
	default:
		p.panBad(w, "400", "Illegal value for parameter \"action\" [%s] of a commit", action)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Every change in the fake is made by User: a partial commit for other admins
	// has nothing to commit.
	if p.candidate.equal(p.running) || (rec.Partial && !slices.Contains(rec.Admins, p.User)) {
		p.commits = append(p.commits, rec)
		panWrite(w, http.StatusOK, `<response status="success" code="19"><msg>There are no changes to commit.</msg></response>`)
		return
	}
	p.nextJob++
	j := &panJob{id: p.nextJob, left: p.commitPolls, snapshot: p.candidate.clone(), status: "ACT", result: "PEND"}
	if p.commitFail != "" {
		j.fail = []string{"Validation Error:", p.commitFail}
	}
	j.fail = append(j.fail, validatePanConfig(j.snapshot)...)
	p.jobs[j.id] = j
	rec.Job = j.id
	p.commits = append(p.commits, rec)
	p.mutated()
	panWrite(w, http.StatusOK, fmt.Sprintf(`<response status="success" code="19"><result><msg><line>Commit job enqueued with jobid %d</line></msg><job>%d</job></result></response>`, j.id, j.id))
}

// validatePanConfig is the commit's validation: static groups need members, and
// members must name address objects.
func validatePanConfig(c *panConfig) []string {
	var errs []string
	for vsys, gs := range c.groups {
		for name, g := range gs {
			if g.dynamic != "" {
				continue
			}
			if len(g.static) == 0 {
				errs = append(errs, fmt.Sprintf("address-group -> %s -> static is invalid (%s)", name, vsys))
			}
			for _, mb := range g.static {
				if _, ok := c.addrs[vsys][mb]; !ok {
					errs = append(errs, fmt.Sprintf("address-group -> %s -> static '%s' is not a valid reference", name, mb))
				}
			}
		}
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		errs = append([]string{"Validation Error:"}, errs...)
	}
	return errs
}

func (p *PANOS) showJob(w http.ResponseWriter, cmd string) {
	var s struct {
		XMLName xml.Name `xml:"show"`
		Jobs    *struct {
			ID  string          `xml:"id"`
			Any []panAnyElement `xml:",any"`
		} `xml:"jobs"`
		Any []panAnyElement `xml:",any"`
	}
	if err := xml.Unmarshal([]byte(cmd), &s); err != nil || s.Jobs == nil || len(s.Any) > 0 || len(s.Jobs.Any) > 0 {
		p.panBad(w, "17", "op command %q is not <show><jobs><id>N</id></jobs></show>", cmd)
		return
	}
	id, err := strconv.Atoi(strings.TrimSpace(s.Jobs.ID))
	p.mu.Lock()
	defer p.mu.Unlock()
	j := p.jobs[id]
	if err != nil || j == nil {
		p.tb.Errorf("panos fake: show jobs for unknown job %q", s.Jobs.ID)
		panWrite(w, http.StatusOK, `<response status="error"><msg><line>job `+strconv.Quote(s.Jobs.ID)+` not found</line></msg></response>`)
		return
	}
	p.jobReads++
	switch {
	case j.status == "FIN":
	case j.left != 0:
		if j.left > 0 {
			j.left--
		}
	case len(j.fail) > 0:
		j.status, j.result = "FIN", "FAIL"
	default:
		j.status, j.result = "FIN", "OK"
		p.running = j.snapshot.clone()
	}
	progress, tfin, details := "50", "Still Active", ""
	if j.status == "FIN" {
		progress, tfin = "100", "2025/01/01 00:00:09"
		if j.result == "OK" {
			details = "<line>Configuration committed successfully</line>"
		}
		for _, l := range j.fail {
			details += "<line><![CDATA[ " + l + " ]]></line>"
		}
	}
	panWrite(w, http.StatusOK, fmt.Sprintf(`<response status="success"><result><job><tenq>2025/01/01 00:00:00</tenq><tdeq>00:00:00</tdeq><id>%d</id>`+
		`<user>%s</user><type>Commit</type><status>%s</status><queued>NO</queued><stoppable>no</stoppable><result>%s</result>`+
		`<tfin>%s</tfin><description></description><positionInQ>0</positionInQ><progress>%s</progress><details>%s</details><warnings></warnings></job></result></response>`,
		j.id, p.User, j.status, j.result, tfin, progress, details))
}
