// Package playbooks loads warroom's response playbooks and applies them to incidents.
//
// A playbook is one YAML file: an id, a title, a match condition written in CEL over
// the incident and its alerts, the checklist the humans in the room follow, and the
// containment actions it proposes, each with its targets, connector, TTL and approval
// policy. The built-in playbooks are embedded from builtin/*.yaml; a user directory
// (config key playbooks.dir) adds playbooks and replaces built-ins that share an id.
//
// Decoding is strict: unknown keys, wrong types and invalid CEL are errors that name
// the file, the line and the key. Expressions are compiled at load and evaluated with
// a cost limit; they cannot have side effects. Set.Match picks the playbook for an
// incident and Playbook.Propose computes the exact targets of its actions.
package playbooks

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/warroom/warroom/triage/model"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Action kinds.
const (
	KindBlockIP     = "block_ip"
	KindUnblockIP   = "unblock_ip"
	KindIsolateHost = "isolate_host"
	KindReleaseHost = "release_host"
	KindWebhook     = "webhook"
)

// Kinds lists the action kinds a playbook may use.
var Kinds = []string{KindBlockIP, KindUnblockIP, KindIsolateHost, KindReleaseHost, KindWebhook}

// Approver roles a playbook may name.
const (
	RoleApprover = "approver"
	RoleAdmin    = "admin"
)

// DefaultInternalNetworks are the internal ranges used when Options names none:
// RFC 1918, RFC 4193 unique local IPv6 and RFC 6598 shared address space (CGNAT).
var DefaultInternalNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// Defaults for the zero fields of Options.
const (
	DefaultMaxTTL         = 7 * 24 * time.Hour
	DefaultMaxAutoTargets = 5
	DefaultCostLimit      = 1_000_000
)

// MaxFileBytes is the largest playbook file accepted.
const MaxFileBytes = 1 << 20

// Options tunes loading and evaluation. The zero value uses the defaults.
type Options struct {
	// Dir is the user playbook directory (config key playbooks.dir); empty for none.
	// Its *.yaml and *.yml files are loaded in name order and replace built-ins by id.
	Dir string
	// InternalNetworks decides which addresses are internal; nil means
	// DefaultInternalNetworks.
	InternalNetworks []netip.Prefix
	// MaxTTL is the longest TTL an action may ask for; 0 means DefaultMaxTTL.
	MaxTTL time.Duration
	// MaxAutoTargets is the highest auto_max_targets a playbook may set; 0 means
	// DefaultMaxAutoTargets.
	MaxAutoTargets int
	// CostLimit bounds the CEL cost of one evaluation; 0 means DefaultCostLimit.
	// An expression that exceeds it fails (the playbook does not match).
	CostLimit uint64
	// Logger receives evaluation errors (an expression that fails at run time counts
	// as false). Nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.InternalNetworks == nil {
		o.InternalNetworks = DefaultInternalNetworks
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.MaxAutoTargets == 0 {
		o.MaxAutoTargets = DefaultMaxAutoTargets
	}
	if o.CostLimit == 0 {
		o.CostLimit = DefaultCostLimit
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) validate() error {
	for i, p := range o.InternalNetworks {
		if !p.IsValid() {
			return fmt.Errorf("internal_networks[%d]: not a valid CIDR like 10.0.0.0/8", i)
		}
	}
	if o.MaxTTL < time.Minute {
		return fmt.Errorf("playbooks.max_ttl: %s; want at least 1m", o.MaxTTL)
	}
	if o.MaxAutoTargets < 1 {
		return fmt.Errorf("playbooks.max_auto_targets: %d; want 1 or more", o.MaxAutoTargets)
	}
	return nil
}

// Playbook is one loaded, compiled playbook. Its fields are read-only.
type Playbook struct {
	ID          string
	Title       string
	Description string
	// Match is the CEL source of the match condition.
	Match     string
	Priority  int
	Checklist []string
	Actions   []Action
	// File is where the playbook came from: "builtin/<name>.yaml" for a built-in,
	// the path for a user file.
	File    string
	Builtin bool

	eng   *engine
	match *expr
	lines lineMap
}

// Action is one containment or notification step a playbook proposes.
type Action struct {
	ID   string
	Kind string
	// Targets is a selector name (see Selectors) or a CEL expression returning
	// list(string).
	Targets   string
	Connector string
	// TTL is how long the change lasts before it is rolled back; 0 when the kind
	// does not expire.
	TTL      time.Duration
	Approval Approval
	// Auto: executed at once, then the room offers Keep / Release, decided under
	// Approval.
	Auto bool
	// AutoWhen, when set, limits Auto to incidents where it is true.
	AutoWhen string
	// AutoMaxTargets: with more targets than this, the action waits for approval.
	AutoMaxTargets int
	// When, when set, is a CEL condition for proposing the action at all.
	When string
	// AllowInternal lets the action act on internal addresses and hosts.
	AllowInternal bool

	selector *selector
	targets  *expr
	when     *expr
	autoWhen *expr
}

// Approval is the policy an action's approval (or, for auto actions, its Keep) follows.
type Approval struct {
	// Approvers is how many distinct people must approve: 0, 1 or 2.
	Approvers int
	// Roles are the roles allowed to approve: approver, admin.
	Roles []string
	// TwoPerson: an approver may not be the requester.
	TwoPerson bool
	// Expires is how long a request stays approvable.
	Expires time.Duration
}

// Proposal is one action on one exact target, as a playbook proposes it.
type Proposal struct {
	Playbook  string
	ActionID  string
	Kind      string
	Target    string // "203.0.113.45/32" for block_ip/unblock_ip; a host name or address for hosts
	Connector string
	TTL       time.Duration
	Approval  Approval
	Auto      bool
}

// Set is a loaded collection of playbooks, safe for concurrent use.
type Set struct {
	eng     *engine
	byID    map[string]*Playbook
	ordered []*Playbook // by priority (highest first), then id
}

// LoadBuiltin loads the embedded playbooks with default options.
func LoadBuiltin() (*Set, error) { return LoadWith(Options{}) }

// Load loads the built-in playbooks, then those in dir, which replace built-ins by id.
func Load(dir string) (*Set, error) { return LoadWith(Options{Dir: dir}) }

// LoadWith loads the built-in playbooks and those in o.Dir under the given options.
func LoadWith(o Options) (*Set, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	eng, err := newEngine(o)
	if err != nil {
		return nil, err
	}
	s := &Set{eng: eng, byID: map[string]*Playbook{}}
	names, err := fs.Glob(builtinFS, "builtin/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list built-in playbooks: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := builtinFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read built-in playbook: %w", err)
		}
		p, err := eng.parse(name, b)
		if err != nil {
			return nil, fmt.Errorf("built-in playbook: %w", err)
		}
		p.Builtin = true
		if prev, dup := s.byID[p.ID]; dup {
			return nil, fmt.Errorf("built-in playbook %s: id %q is also used by %s", name, p.ID, prev.File)
		}
		s.byID[p.ID] = p
	}
	if o.Dir != "" {
		user, err := eng.loadDir(o.Dir)
		if err != nil {
			return nil, err
		}
		for _, p := range user {
			s.byID[p.ID] = p
		}
	}
	for _, p := range s.byID {
		s.ordered = append(s.ordered, p)
	}
	sort.Slice(s.ordered, func(i, j int) bool {
		a, b := s.ordered[i], s.ordered[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.ID < b.ID
	})
	return s, nil
}

// loadDir parses every *.yaml and *.yml file in dir, refusing two files with one id.
func (e *engine) loadDir(dir string) ([]*Playbook, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("playbooks.dir: %w", err)
	}
	var out []*Playbook
	seen := map[string]string{}
	for _, de := range entries {
		name := de.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if de.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := readFile(path)
		if err != nil {
			return nil, err
		}
		p, err := e.parse(path, b)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[p.ID]; dup {
			return nil, &Error{File: path, Line: p.idLine(), Path: "id",
				Msg: fmt.Sprintf("%q is also the id of %s; each file needs its own id", p.ID, prev)}
		}
		seen[p.ID] = path
		out = append(out, p)
	}
	return out, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read playbook: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read playbook %s: %w", path, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: over %d bytes; a playbook file may hold at most that", path, MaxFileBytes)
	}
	return b, nil
}

// Parse decodes and compiles one playbook document under options o (o.Dir is
// ignored). name is used in errors, e.g. the file's path.
func Parse(name string, b []byte, o Options) (*Playbook, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	eng, err := newEngine(o)
	if err != nil {
		return nil, err
	}
	return eng.parse(name, b)
}

// List returns the playbooks sorted by id.
func (s *Set) List() []*Playbook {
	out := make([]*Playbook, 0, len(s.ordered))
	out = append(out, s.ordered...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns the playbook with this id.
func (s *Set) Get(id string) (*Playbook, bool) {
	p, ok := s.byID[id]
	return p, ok
}

// Match returns the highest-priority playbook whose match condition holds for the
// incident and its alerts; between equal priorities the smallest id wins. A
// condition that fails to evaluate counts as false and is logged.
func (s *Set) Match(inc *model.Incident, alerts []*model.Alert) (*Playbook, bool) {
	if inc == nil {
		return nil, false
	}
	in := s.eng.input(inc, alerts)
	for _, p := range s.ordered {
		ok, err := p.match.evalBool(in)
		if err != nil {
			s.eng.log.Warn("playbook match failed", "playbook", p.ID, "incident", inc.Number, "err", err)
			continue
		}
		if ok {
			return p, true
		}
	}
	return nil, false
}

// Matches evaluates the playbook's match condition alone, reporting evaluation
// errors (such as the cost limit) instead of treating them as false.
func (p *Playbook) Matches(inc *model.Incident, alerts []*model.Alert) (bool, error) {
	if inc == nil {
		return false, errors.New("no incident to match")
	}
	ok, err := p.match.evalBool(p.eng.input(inc, alerts))
	if err != nil {
		return false, fmt.Errorf("playbook %s: match: %w", p.ID, err)
	}
	return ok, nil
}

func (p *Playbook) idLine() int { return p.lines.at("id") }
