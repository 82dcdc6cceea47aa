package playbooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a problem in a playbook file: where it is and what to fix.
type Error struct {
	File string
	Line int    // 0 when unknown
	Path string // the key, e.g. actions[0].ttl; empty for the file as a whole
	Msg  string
}

// Error formats as file:line: path: message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// The file's shape. Every key is listed here; anything else is an error.
type (
	fileDoc struct {
		ID          string      `yaml:"id"`
		Title       string      `yaml:"title"`
		Description string      `yaml:"description"`
		Match       string      `yaml:"match"`
		Priority    int         `yaml:"priority"`
		Checklist   []string    `yaml:"checklist"`
		Actions     []actionDoc `yaml:"actions"`
	}
	actionDoc struct {
		ID             string       `yaml:"id"`
		Kind           string       `yaml:"kind"`
		Targets        string       `yaml:"targets"`
		Connector      string       `yaml:"connector"`
		TTL            string       `yaml:"ttl"`
		Approval       *approvalDoc `yaml:"approval"`
		Auto           bool         `yaml:"auto"`
		AutoWhen       string       `yaml:"auto_when"`
		AutoMaxTargets *int         `yaml:"auto_max_targets"`
		When           string       `yaml:"when"`
		AllowInternal  bool         `yaml:"allow_internal"`
	}
	approvalDoc struct {
		Approvers *int     `yaml:"approvers"`
		Roles     []string `yaml:"roles"`
		TwoPerson *bool    `yaml:"two_person"`
		Expires   string   `yaml:"expires"`
	}
)

// lineMap records the line of each key path seen in the file.
type lineMap map[string]int

// at returns the line of path, or of its nearest enclosing key.
func (m lineMap) at(path string) int {
	for {
		if l, ok := m[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeDoc strictly decodes one playbook document, returning the line of every key.
func decodeDoc(name string, b []byte) (*fileDoc, lineMap, error) {
	fail := func(line int, path, format string, args ...any) (*fileDoc, lineMap, error) {
		return nil, nil, &Error{File: name, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if len(b) > MaxFileBytes {
		return fail(0, "", "%d bytes; a playbook file may hold at most %d", len(b), MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, "", "empty file; a playbook needs at least id, title, match and checklist")
		}
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return fail(line, "", "invalid YAML: %s", m[2])
		}
		return fail(0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return fail(line, "", "more than one YAML document; keep one playbook per file")
	}
	n := &root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return fail(0, "", "empty file; a playbook needs at least id, title, match and checklist")
		}
		n = n.Content[0]
	}
	lines := lineMap{"": n.Line}
	if err := checkNode(n, reflect.TypeFor[fileDoc](), "", lines); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			pe.File = name
		}
		return nil, nil, err
	}
	var d fileDoc
	if err := n.Decode(&d); err != nil {
		// checkNode has seen every value; what is left is an out-of-range number.
		msg := strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n ", ""), "yaml: unmarshal errors:")
		return fail(0, "", "%s", strings.TrimSpace(msg))
	}
	return &d, lines, nil
}

// checkNode checks n against the Go type t: mappings hold only the keys the type
// names, once each; sequences, scalars, booleans and integers where the type says.
// It records each key's line under its path.
func checkNode(n *yaml.Node, t reflect.Type, path string, lines lineMap) error {
	bad := func(format string, args ...any) error {
		return &Error{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return bad("anchors and aliases are not supported; write the value out")
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // the same as leaving the key out
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		keys := yamlKeys(t)
		if n.Kind != yaml.MappingNode {
			return bad("want a mapping with the keys %s", strings.Join(keys, ", "))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return &Error{Line: k.Line, Path: path, Msg: "a key must be a plain name"}
			}
			kp := k.Value
			if path != "" {
				kp = path + "." + k.Value
			}
			if first, dup := seen[k.Value]; dup {
				return &Error{Line: k.Line, Path: kp, Msg: fmt.Sprintf("given twice (first on line %d); keep one", first)}
			}
			seen[k.Value] = k.Line
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				return &Error{Line: k.Line, Path: path,
					Msg: fmt.Sprintf("unknown key %q; allowed: %s", k.Value, strings.Join(keys, ", "))}
			}
			lines[kp] = k.Line
			if err := checkNode(v, f.Type, kp, lines); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("want a list")
		}
		for i, item := range n.Content {
			ip := path + "[" + strconv.Itoa(i) + "]"
			lines[ip] = item.Line
			if err := checkNode(item, t.Elem(), ip, lines); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return bad("want a single value (text), not a %s", kindName(n.Kind))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return bad("want true or false, got %s", describe(n))
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return bad("want a whole number, got %s", describe(n))
		}
		if _, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 32); err != nil {
			return bad("%s is out of range", n.Value)
		}
	}
	return nil
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strconv.Quote(n.Value)
	}
	return "a " + kindName(n.Kind)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

func yamlKeys(t reflect.Type) []string {
	out := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		out = append(out, name)
	}
	return out
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// Rules for names and values.
var (
	idPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	connectorPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	identLike        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Limits on a playbook's contents.
const (
	maxPriority      = 1000
	maxChecklist     = 50
	maxActions       = 20
	maxTextLen       = 4096
	minTTL           = time.Minute
	minExpiry        = time.Minute
	maxExpiry        = 24 * time.Hour
	defaultExpiry    = time.Hour
	defaultAutoLimit = 1
)

// parse decodes, validates and compiles one playbook file.
func (e *engine) parse(name string, b []byte) (*Playbook, error) {
	d, lines, err := decodeDoc(name, b)
	if err != nil {
		return nil, err
	}
	v := &validator{file: name, lines: lines, eng: e}
	p := v.playbook(d)
	if v.err != nil {
		return nil, v.err
	}
	p.File = name
	p.lines = lines
	p.eng = e
	return p, nil
}

// validator collects the first problem found, with its line.
type validator struct {
	file  string
	lines lineMap
	eng   *engine
	err   error
}

func (v *validator) fail(path, format string, args ...any) {
	if v.err == nil {
		v.err = &Error{File: v.file, Line: v.lines.at(path), Path: path, Msg: fmt.Sprintf(format, args...)}
	}
}

func (v *validator) present(path string) bool { _, ok := v.lines[path]; return ok }

func (v *validator) playbook(d *fileDoc) *Playbook {
	p := &Playbook{
		ID: d.ID, Title: strings.TrimSpace(d.Title), Description: strings.TrimSpace(d.Description),
		Match: strings.TrimSpace(d.Match), Priority: d.Priority,
	}
	switch {
	case d.ID == "":
		v.fail("id", `missing; give the playbook an id such as "ssh-rdp-bruteforce"`)
	case !idPattern.MatchString(d.ID):
		v.fail("id", "%q; use lowercase letters, digits and - (at most 63, starting with a letter or digit)", d.ID)
	}
	switch {
	case p.Title == "":
		v.fail("title", "missing; give a one-line title for the room")
	case len(p.Title) > 200 || strings.ContainsAny(p.Title, "\r\n"):
		v.fail("title", "keep the title to one line of at most 200 characters")
	}
	if len(p.Description) > maxTextLen {
		v.fail("description", "%d characters; at most %d", len(p.Description), maxTextLen)
	}
	if p.Match == "" {
		v.fail("match", "missing; give a CEL condition such as incident.category == 'scan'")
	} else if x, err := v.eng.compile(p.Match, wantBool); err != nil {
		v.fail("match", "%s", err)
	} else {
		p.match = x
	}
	if d.Priority < 0 || d.Priority > maxPriority {
		v.fail("priority", "%d; want between 0 and %d (higher wins when several playbooks match)", d.Priority, maxPriority)
	}
	switch {
	case len(d.Checklist) == 0:
		v.fail("checklist", "missing; list the steps the responders follow")
	case len(d.Checklist) > maxChecklist:
		v.fail("checklist", "%d steps; at most %d", len(d.Checklist), maxChecklist)
	}
	for i, s := range d.Checklist {
		s = strings.TrimSpace(s)
		path := fmt.Sprintf("checklist[%d]", i)
		if s == "" {
			v.fail(path, "empty step; write what to do or remove it")
		} else if len(s) > maxTextLen {
			v.fail(path, "%d characters; at most %d", len(s), maxTextLen)
		}
		p.Checklist = append(p.Checklist, s)
	}
	if len(d.Actions) > maxActions {
		v.fail("actions", "%d actions; at most %d", len(d.Actions), maxActions)
	}
	ids := map[string]string{}
	for i := range d.Actions {
		path := fmt.Sprintf("actions[%d]", i)
		a := v.action(path, &d.Actions[i])
		if a.ID != "" {
			if prev, dup := ids[a.ID]; dup {
				v.fail(path+".id", "%q is also the id of %s; action ids are unique in a playbook", a.ID, prev)
			}
			ids[a.ID] = path
		}
		p.Actions = append(p.Actions, a)
	}
	return p
}

func (v *validator) action(path string, d *actionDoc) Action {
	at := func(key string) string { return path + "." + key }
	a := Action{
		ID: d.ID, Kind: d.Kind, Targets: strings.TrimSpace(d.Targets), Connector: d.Connector,
		Auto: d.Auto, AutoWhen: strings.TrimSpace(d.AutoWhen), When: strings.TrimSpace(d.When),
		AllowInternal: d.AllowInternal,
	}
	switch {
	case a.ID == "":
		v.fail(at("id"), `missing; give the action an id such as "block-attacker"`)
	case !idPattern.MatchString(a.ID):
		v.fail(at("id"), "%q; use lowercase letters, digits and - (at most 63)", a.ID)
	}
	expiring := false
	switch a.Kind {
	case KindBlockIP, KindIsolateHost:
		expiring = true
	case KindUnblockIP, KindReleaseHost, KindWebhook:
	case "":
		v.fail(at("kind"), "missing; want one of %s", strings.Join(Kinds, ", "))
	default:
		v.fail(at("kind"), "%q; want one of %s", a.Kind, strings.Join(Kinds, ", "))
	}
	host := a.Kind == KindIsolateHost || a.Kind == KindReleaseHost
	block := a.Kind == KindBlockIP || a.Kind == KindUnblockIP

	// Targets: a selector, or a CEL expression.
	maybeInternal := false
	switch {
	case a.Targets == "":
		v.fail(at("targets"), "missing; name a selector (%s) or give a CEL expression returning list(string)",
			strings.Join(Selectors(), ", "))
	case lookupSelector(a.Targets) != nil:
		s := lookupSelector(a.Targets)
		a.selector = s
		maybeInternal = s.internal
		switch {
		case block && s.yields != yieldAddrs:
			v.fail(at("targets"), "%s gives names, but %s needs addresses: use an *_ips selector", s.name, a.Kind)
		case host && s.yields == yieldNames:
			v.fail(at("targets"), "%s gives %s, but %s needs hosts: use an *_hosts or *_ips selector", s.name, s.name, a.Kind)
		case s.internal && !a.AllowInternal:
			v.fail(at("targets"), "%s are internal assets; set allow_internal: true to act on them", s.name)
		}
	case identLike.MatchString(a.Targets) && !strings.Contains(a.Targets, "."):
		v.fail(at("targets"), "unknown selector %q; want one of %s, or a CEL expression returning list(string)",
			a.Targets, strings.Join(Selectors(), ", "))
	default:
		maybeInternal = true
		if x, err := v.eng.compile(a.Targets, wantStrings); err != nil {
			v.fail(at("targets"), "%s", err)
		} else {
			a.targets = x
		}
	}
	if host && !a.AllowInternal {
		v.fail(at("allow_internal"), "%s acts on internal hosts; set allow_internal: true", a.Kind)
	}

	// Connector.
	if a.Connector == "" {
		switch a.Kind {
		case KindBlockIP, KindUnblockIP:
			a.Connector = "edl"
		case KindWebhook:
			a.Connector = "webhook"
		case KindIsolateHost, KindReleaseHost:
			v.fail(at("connector"), "missing; %s has no default connector: name the one that reaches your EDR, e.g. edr", a.Kind)
		}
	} else if !connectorPattern.MatchString(a.Connector) {
		v.fail(at("connector"), "%q; a connector name uses lowercase letters, digits, - and _", a.Connector)
	}

	// TTL.
	switch {
	case d.TTL != "":
		ttl, err := time.ParseDuration(d.TTL)
		switch {
		case err != nil:
			v.fail(at("ttl"), "%q is not a duration; write it like 30m or 24h", d.TTL)
		case a.Kind == KindUnblockIP || a.Kind == KindReleaseHost:
			v.fail(at("ttl"), "%s does not expire; remove ttl", a.Kind)
		case ttl < minTTL || ttl > v.eng.maxTTL:
			v.fail(at("ttl"), "%s; want between %s and %s", fmtDuration(ttl), fmtDuration(minTTL), fmtDuration(v.eng.maxTTL))
		}
		a.TTL = ttl
	case expiring:
		v.fail(at("ttl"), "missing; %s needs a TTL (such as 24h) after which it is rolled back", a.Kind)
	}

	a.Approval = v.approval(at("approval"), d.Approval)

	// Conditions.
	if a.When != "" {
		if x, err := v.eng.compile(a.When, wantBool); err != nil {
			v.fail(at("when"), "%s", err)
		} else {
			a.when = x
		}
	}

	// Automatic execution.
	if a.AutoWhen != "" {
		if !a.Auto {
			v.fail(at("auto_when"), "only applies with auto: true")
		} else if x, err := v.eng.compile(a.AutoWhen, wantBool); err != nil {
			v.fail(at("auto_when"), "%s", err)
		} else {
			a.autoWhen = x
		}
	}
	switch {
	case d.AutoMaxTargets != nil && !a.Auto:
		v.fail(at("auto_max_targets"), "only applies with auto: true")
	case d.AutoMaxTargets != nil:
		a.AutoMaxTargets = *d.AutoMaxTargets
		if a.AutoMaxTargets < 1 || a.AutoMaxTargets > v.eng.maxAutoTargets {
			v.fail(at("auto_max_targets"), "%d; want between 1 and %d (playbooks.max_auto_targets)", a.AutoMaxTargets, v.eng.maxAutoTargets)
		}
	case a.Auto:
		a.AutoMaxTargets = defaultAutoLimit
	}
	if a.Auto && maybeInternal && !a.AllowInternal {
		v.fail(at("auto"), "the targets expression may give internal addresses; set allow_internal: true or use an external_* selector")
	}
	return a
}

func (v *validator) approval(path string, d *approvalDoc) Approval {
	at := func(key string) string { return path + "." + key }
	ap := Approval{Approvers: 1, Roles: []string{RoleApprover, RoleAdmin}, Expires: defaultExpiry}
	if d == nil {
		d = &approvalDoc{}
	}
	if d.Approvers != nil {
		ap.Approvers = *d.Approvers
		if ap.Approvers < 0 || ap.Approvers > 2 {
			v.fail(at("approvers"), "%d; want 0, 1 or 2", ap.Approvers)
		}
	}
	if v.present(at("roles")) {
		if len(d.Roles) == 0 {
			v.fail(at("roles"), "empty; want approver, admin or both")
		}
		ap.Roles = nil
		seen := map[string]bool{}
		for i, r := range d.Roles {
			rp := fmt.Sprintf("%s[%d]", at("roles"), i)
			switch {
			case r != RoleApprover && r != RoleAdmin:
				v.fail(rp, "%q; want approver or admin", r)
			case seen[r]:
				v.fail(rp, "%q is listed twice", r)
			}
			seen[r] = true
			ap.Roles = append(ap.Roles, r)
		}
	}
	// The two-person rule defaults to on whenever someone must approve.
	ap.TwoPerson = ap.Approvers > 0
	if d.TwoPerson != nil {
		ap.TwoPerson = *d.TwoPerson
		if ap.TwoPerson && ap.Approvers == 0 {
			v.fail(at("two_person"), "needs approvers: 1 or 2 (with no approver there is no second person)")
		}
	}
	if d.Expires != "" {
		exp, err := time.ParseDuration(d.Expires)
		switch {
		case err != nil:
			v.fail(at("expires"), "%q is not a duration; write it like 30m or 1h", d.Expires)
		case exp < minExpiry || exp > maxExpiry:
			v.fail(at("expires"), "%s; want between %s and %s", fmtDuration(exp), fmtDuration(minExpiry), fmtDuration(maxExpiry))
		}
		ap.Expires = exp
	}
	return ap
}

// fmtDuration writes 24h0m0s as 24h and 1m0s as 1m.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
