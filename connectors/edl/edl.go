// Package edl is the External Dynamic List connector: warroom itself serves a plain
// text list of blocked addresses at GET /edl/<list>.txt, one IP or CIDR per line, that
// Palo Alto (External Dynamic List), Fortinet (external threat feed) and Check Point
// (IoC feed) firewalls poll. Blocking adds an entry, reverting removes it, and entries
// drop off the list when their TTL ends. It needs no firewall credentials, which makes
// it warroom's default containment path.
package edl

import (
	"container/heap"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/clock"
)

// Sample is an example configuration, documented key by key.
//
//go:embed sample.yaml
var Sample []byte

func init() { connectors.Register("edl", factory) }

func factory(raw []byte, env connectors.Env) (connectors.Connector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	var store Store
	if env.State != nil {
		s, ok := env.State.(Store)
		if !ok {
			return nil, fmt.Errorf("the state store (%T) does not implement edl.Store; entries could not survive a restart", env.State)
		}
		store = s
	}
	return New(cfg, env, store)
}

// Entry is one listed prefix.
type Entry struct {
	Prefix    netip.Prefix
	ActionID  string
	AddedAt   time.Time
	ExpiresAt time.Time
}

// Store persists list entries so they survive a restart. Implementations must be safe
// for concurrent use. MemoryStore keeps them in memory only.
type Store interface {
	// Load returns every stored entry of list, expired ones included.
	Load(ctx context.Context, list string) ([]Entry, error)
	// Put inserts or replaces the entry for e.Prefix.
	Put(ctx context.Context, list string, e Entry) error
	// Delete removes the entry for p; deleting an absent entry is not an error.
	Delete(ctx context.Context, list string, p netip.Prefix) error
}

// MemoryStore is a Store that keeps entries in memory (lost on restart).
type MemoryStore struct {
	mu    sync.Mutex
	lists map[string]map[netip.Prefix]Entry
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{lists: map[string]map[netip.Prefix]Entry{}}
}

// Load implements Store.
func (m *MemoryStore) Load(_ context.Context, list string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Entry, 0, len(m.lists[list]))
	for _, e := range m.lists[list] {
		out = append(out, e)
	}
	return out, nil
}

// Put implements Store.
func (m *MemoryStore) Put(_ context.Context, list string, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lists[list] == nil {
		m.lists[list] = map[netip.Prefix]Entry{}
	}
	m.lists[list][e.Prefix] = e
	return nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(_ context.Context, list string, p netip.Prefix) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.lists[list], p)
	return nil
}

var _ Store = (*MemoryStore)(nil)

// EDL is one served list. It is a connectors.Connector (block_ip, unblock_ip) and an
// http.Handler serving the list.
type EDL struct {
	name     string
	cfg      Config
	clock    clock.Clock
	log      *slog.Logger
	store    Store
	sim      *connectors.Simulation // non-nil in dry-run mode
	password connectors.Secret
	token    connectors.Secret

	mu         sync.Mutex
	loaded     bool
	entries    map[netip.Prefix]Entry
	expiry     expiryHeap // entries by expiry; stale items are skipped when popped
	body       []byte
	etag       string
	validUntil time.Time // the rendered body stays valid until this time (next expiry)
	dirty      bool
}

var (
	_ connectors.Connector = (*EDL)(nil)
	_ http.Handler         = (*EDL)(nil)
)

// New returns the list described by cfg. A nil store keeps entries in memory.
func New(cfg Config, env connectors.Env, store Store) (*EDL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "edl"
	}
	if store == nil {
		store = NewMemoryStore()
	}
	e := &EDL{
		name: env.Name, cfg: cfg, clock: env.Clock, store: store,
		log:     env.Logger.With("connector", env.Name, "list", cfg.List),
		entries: map[netip.Prefix]Entry{}, dirty: true,
	}
	var err error
	switch cfg.Auth {
	case AuthBasic:
		if e.password, err = env.Secret("password", cfg.PasswordEnv, cfg.PasswordFile); err != nil {
			return nil, err
		}
	case AuthBearer:
		if e.token, err = env.Secret("token", cfg.TokenEnv, cfg.TokenFile); err != nil {
			return nil, err
		}
	}
	if cfg.DryRun || env.DryRun {
		e.sim = connectors.NewSimulation(env.Clock)
	}
	return e, nil
}

// Name implements connectors.Connector.
func (e *EDL) Name() string { return e.name }

// List returns the list name.
func (e *EDL) List() string { return e.cfg.List }

// Path returns where the list is served: /edl/<list>.txt.
func (e *EDL) Path() string { return "/edl/" + e.cfg.List + ".txt" }

// Capabilities implements connectors.Connector.
func (e *EDL) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

// ensureLoaded reads the store once. Callers hold e.mu.
func (e *EDL) ensureLoaded(ctx context.Context) error {
	if e.loaded {
		return nil
	}
	stored, err := e.store.Load(ctx, e.cfg.List)
	if err != nil {
		return connectors.Temporary(fmt.Errorf("edl %s: loading entries: %w", e.cfg.List, err))
	}
	for _, en := range stored {
		en.Prefix = connectors.CanonicalPrefix(en.Prefix)
		e.entries[en.Prefix] = en
		e.expiry = append(e.expiry, expiryItem{at: en.ExpiresAt, prefix: en.Prefix})
	}
	heap.Init(&e.expiry)
	e.loaded, e.dirty = true, true
	return nil
}

// prune drops expired entries, in O(log n) per expired entry. Callers hold e.mu.
func (e *EDL) prune(ctx context.Context, now time.Time) {
	for len(e.expiry) > 0 && !now.Before(e.expiry[0].at) {
		it := heap.Pop(&e.expiry).(expiryItem)
		en, ok := e.entries[it.prefix]
		if !ok || !en.ExpiresAt.Equal(it.at) {
			continue // removed or refreshed since
		}
		delete(e.entries, it.prefix)
		e.dirty = true
		if err := e.store.Delete(ctx, e.cfg.List, it.prefix); err != nil {
			e.log.Warn("edl: could not delete an expired entry from the store; it stays off the list", "prefix", it.prefix.String(), "error", err)
		}
	}
	// Refreshes and removals leave stale items behind; rebuild when they dominate.
	if len(e.expiry) > 2*len(e.entries)+64 {
		e.expiry = e.expiry[:0]
		for p, en := range e.entries {
			e.expiry = append(e.expiry, expiryItem{at: en.ExpiresAt, prefix: p})
		}
		heap.Init(&e.expiry)
	}
}

type expiryItem struct {
	at     time.Time
	prefix netip.Prefix
}

// expiryHeap is a min-heap of entries by expiry time.
type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// live returns the entry for p if it is listed and unexpired. Callers hold e.mu.
func (e *EDL) live(p netip.Prefix, now time.Time) (Entry, bool) {
	en, ok := e.entries[p]
	if !ok || !now.Before(en.ExpiresAt) {
		return Entry{}, false
	}
	return en, true
}

// Execute adds (block_ip) or removes (unblock_ip) the target. Repeating a block
// moves its expiry to now+TTL and reports Changed=false.
func (e *EDL) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(e, req); err != nil {
		return connectors.Result{}, err
	}
	if e.sim != nil {
		d, err := e.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return e.sim.Execute(req, d), nil
	}
	if req.Kind == connectors.BlockIP {
		return e.add(ctx, req)
	}
	return e.remove(ctx, req.Target.Prefix)
}

// Revert undoes Execute: a block is removed; an unblock is re-added for req.TTL.
func (e *EDL) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(e, req); err != nil {
		return connectors.Result{}, err
	}
	if e.sim != nil {
		return e.sim.Revert(req, connectors.Diff{Changes: []string{e.describe(req, true)}}), nil
	}
	if req.Kind == connectors.BlockIP {
		return e.remove(ctx, req.Target.Prefix)
	}
	return e.add(ctx, req)
}

func (e *EDL) add(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	p := req.Target.Prefix
	if req.TTL <= 0 {
		return connectors.Result{}, connectors.Permanent(fmt.Errorf("edl %s: adding %s needs a ttl; entries always expire", e.cfg.List, p))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ensureLoaded(ctx); err != nil {
		return connectors.Result{}, err
	}
	now := e.clock.Now()
	e.prune(ctx, now)
	old, present := e.live(p, now)
	if !present && len(e.entries) >= e.cfg.MaxEntries {
		return connectors.Result{}, connectors.Permanent(fmt.Errorf("edl %s: list is full (%d entries, max_entries %d); raise max_entries if the firewall accepts more, or unblock something", e.cfg.List, len(e.entries), e.cfg.MaxEntries))
	}
	en := Entry{Prefix: p, ActionID: req.ActionID, AddedAt: now, ExpiresAt: now.Add(req.TTL)}
	if present {
		en.AddedAt = old.AddedAt
		if en.ActionID == "" {
			en.ActionID = old.ActionID
		}
	}
	if err := e.store.Put(ctx, e.cfg.List, en); err != nil {
		return connectors.Result{}, connectors.Temporary(fmt.Errorf("edl %s: storing %s: %w", e.cfg.List, p, err))
	}
	e.entries[p] = en
	heap.Push(&e.expiry, expiryItem{at: en.ExpiresAt, prefix: p})
	e.dirty = true
	res := connectors.Result{Changed: !present, Reference: e.Path(), ExpiresAt: en.ExpiresAt}
	if present {
		res.Detail = fmt.Sprintf("%s already on EDL %s; expiry moved to %s from now", p, e.cfg.List, connectors.FormatDuration(req.TTL))
	} else {
		res.Detail = fmt.Sprintf("added %s to EDL %s, expires in %s", p, e.cfg.List, connectors.FormatDuration(req.TTL))
	}
	e.log.Info("edl: listed", "prefix", p.String(), "action", req.ActionID, "ttl", req.TTL.String(), "changed", res.Changed)
	return res, nil
}

func (e *EDL) remove(ctx context.Context, p netip.Prefix) (connectors.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ensureLoaded(ctx); err != nil {
		return connectors.Result{}, err
	}
	now := e.clock.Now()
	_, present := e.live(p, now)
	if err := e.store.Delete(ctx, e.cfg.List, p); err != nil {
		return connectors.Result{}, connectors.Temporary(fmt.Errorf("edl %s: deleting %s: %w", e.cfg.List, p, err))
	}
	if _, ok := e.entries[p]; ok {
		delete(e.entries, p)
		e.dirty = true
	}
	res := connectors.Result{Changed: present, Reference: e.Path()}
	if present {
		res.Detail = fmt.Sprintf("removed %s from EDL %s", p, e.cfg.List)
	} else {
		res.Detail = fmt.Sprintf("%s was not on EDL %s", p, e.cfg.List)
	}
	e.log.Info("edl: unlisted", "prefix", p.String(), "changed", res.Changed)
	return res, nil
}

// Verify reports whether the target is on the served list (block_ip) or off it
// (unblock_ip). Firewalls pick a change up at their next poll.
func (e *EDL) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(e, req); err != nil {
		return connectors.Verification{}, err
	}
	if e.sim != nil {
		return e.sim.Verify(req), nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ensureLoaded(ctx); err != nil {
		return connectors.Verification{}, err
	}
	now := e.clock.Now()
	p := req.Target.Prefix
	en, present := e.live(p, now)
	v := connectors.Verification{Observed: true, CheckedAt: now, ExpiresAt: en.ExpiresAt}
	v.InPlace = present == (req.Kind == connectors.BlockIP)
	if present {
		v.Detail = fmt.Sprintf("%s is served on %s until %s", p, e.Path(), en.ExpiresAt.UTC().Format(time.RFC3339))
	} else {
		v.Detail = fmt.Sprintf("%s is not on %s", p, e.Path())
	}
	return v, nil
}

// Preview describes the change without making it.
func (e *EDL) Preview(ctx context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(e, req); err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: []string{e.describe(req, false)}}, nil
}

func (e *EDL) describe(req connectors.Request, revert bool) string {
	add := req.Kind == connectors.BlockIP
	if revert {
		add = !add
	}
	if add {
		return fmt.Sprintf("add %s to EDL %s, timeout %s", req.Target.Prefix, e.cfg.List, connectors.FormatDuration(req.TTL))
	}
	return fmt.Sprintf("remove %s from EDL %s", req.Target.Prefix, e.cfg.List)
}

// Ready reports the list as reachable (warroom serves it) and checks the store.
// Authentication is the firewall's to do, so it reads as not applicable.
func (e *EDL) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{Reachable: connectors.Passed, Authenticated: connectors.Unchecked, Permitted: connectors.Passed}
	e.mu.Lock()
	err := e.ensureLoaded(ctx)
	n := len(e.entries)
	e.mu.Unlock()
	if err != nil {
		r.Permitted = connectors.Failed
		r.Message = err.Error()
		return r
	}
	r.Message = fmt.Sprintf("serving %s with %d entries, auth %s", e.Path(), n, e.cfg.Auth)
	if e.sim != nil {
		r.Message += ", dry run"
	}
	return r
}

// Entries returns the live entries, sorted.
func (e *EDL) Entries(ctx context.Context) ([]Entry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	e.prune(ctx, e.clock.Now())
	out := make([]Entry, 0, len(e.entries))
	for _, en := range e.entries {
		out = append(out, en)
	}
	slices.SortFunc(out, func(a, b Entry) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// render returns the list body and its ETag, re-rendering only after a change or
// when an entry expires. Callers hold e.mu.
func (e *EDL) render(ctx context.Context, now time.Time) ([]byte, string) {
	if !e.dirty && now.Before(e.validUntil) {
		return e.body, e.etag
	}
	e.prune(ctx, now)
	ps := make([]netip.Prefix, 0, len(e.entries))
	for p := range e.entries {
		ps = append(ps, p)
	}
	var next time.Time
	if len(e.expiry) > 0 {
		next = e.expiry[0].at // the earliest expiry (or a stale item: an early re-render)
	}
	slices.SortFunc(ps, comparePrefix)
	var b strings.Builder
	for _, p := range ps {
		if p.IsSingleIP() {
			b.WriteString(p.Addr().String())
		} else {
			b.WriteString(p.String())
		}
		b.WriteByte('\n')
	}
	e.body = []byte(b.String())
	sum := sha256.Sum256(e.body)
	e.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
	if next.IsZero() {
		next = now.Add(24 * time.Hour)
	}
	e.validUntil, e.dirty = next, false
	return e.body, e.etag
}

// ServeHTTP serves the list as text/plain, one entry per line, sorted, with an ETag;
// a matching If-None-Match gets 304. GET and HEAD only.
func (e *EDL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !e.authorized(r) {
		switch e.cfg.Auth {
		case AuthBasic:
			w.Header().Set("WWW-Authenticate", `Basic realm="warroom edl", charset="UTF-8"`)
		case AuthBearer:
			w.Header().Set("WWW-Authenticate", `Bearer realm="warroom edl"`)
		}
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	e.mu.Lock()
	if err := e.ensureLoaded(r.Context()); err != nil {
		e.mu.Unlock()
		e.log.Error("edl: cannot serve the list", "error", err)
		http.Error(w, "list unavailable", http.StatusServiceUnavailable)
		return
	}
	body, etag := e.render(r.Context(), e.clock.Now())
	e.mu.Unlock()

	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func (e *EDL) authorized(r *http.Request) bool {
	switch e.cfg.Auth {
	case AuthBasic:
		user, pass, ok := r.BasicAuth()
		// Both comparisons always run, so timing does not tell which one failed.
		userOK := connectors.NewSecret(e.cfg.Username).Equal(user)
		passOK := e.password.Equal(pass)
		return ok && userOK && passOK
	case AuthBearer:
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		tokOK := e.token.Equal(strings.TrimSpace(tok))
		return ok && strings.EqualFold(scheme, "Bearer") && tokOK
	}
	return true
}

// etagMatch implements the weak comparison If-None-Match uses (RFC 9110 13.1.2): a
// list of entity tags or "*".
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		if strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// Mux serves several lists under GET /edl/{list}.txt, answering 404 for unknown
// names. Mount it on the server's mux at "/edl/".
func Mux(lists ...*EDL) http.Handler {
	byName := make(map[string]*EDL, len(lists))
	for _, l := range lists {
		byName[l.cfg.List] = l
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file, ok := strings.CutPrefix(r.URL.Path, "/edl/")
		name, txt := strings.CutSuffix(file, ".txt")
		l, found := byName[name]
		if !ok || !txt || !found {
			http.NotFound(w, r)
			return
		}
		l.ServeHTTP(w, r)
	})
}
