package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/warroom/warroom/triage/model"
)

// RuleSpec is one configured category rule: when Match (a Go regular expression)
// matches the alert's Field, the alert gets Category and, when set, Severity.
// Matching is case-sensitive unless the expression starts with (?i).
type RuleSpec struct {
	Match    string `yaml:"match"`
	Field    string `yaml:"field"` // rule, title or any (the default)
	Category string `yaml:"category"`
	Severity string `yaml:"severity,omitempty"`
}

// RuleTable is a compiled, ordered list of rules. The zero value and nil match nothing.
// It is safe for concurrent use.
type RuleTable struct {
	rules []rule

	// memo remembers which rule (an index, or -1 for none) the last (rule, title)
	// pairs matched: detections repeat a few rule names and titles endlessly, and the
	// regular expressions cost more than the whole rest of decoding an alert. It is
	// cleared when it reaches memoMax entries, so varying titles cannot grow it.
	mu   sync.RWMutex
	memo map[ruleKey]int32
}

type ruleKey struct{ rule, title string }

const memoMax = 4096

type ruleField uint8

const (
	fieldAny ruleField = iota
	fieldRule
	fieldTitle
)

type rule struct {
	re       *regexp.Regexp
	field    ruleField
	category model.Category
	severity model.Severity
}

// NewRuleTable compiles specs in order. Errors name the rule's index and field.
func NewRuleTable(specs []RuleSpec) (*RuleTable, error) {
	t := &RuleTable{rules: make([]rule, 0, len(specs))}
	for i, s := range specs {
		r, err := compileRule(s)
		if err != nil {
			return nil, fmt.Errorf("rules[%d].%w", i, err)
		}
		t.rules = append(t.rules, r)
	}
	return t, nil
}

func compileRule(s RuleSpec) (rule, error) {
	var r rule
	switch s.Field {
	case "", "any":
		r.field = fieldAny
	case "rule":
		r.field = fieldRule
	case "title":
		r.field = fieldTitle
	default:
		return r, fmt.Errorf("field %q: want rule, title or any", s.Field)
	}
	if s.Match == "" {
		return r, errors.New(`match: empty; want a regular expression such as "(?i)ssh.*brute"`)
	}
	re, err := regexp.Compile(s.Match)
	if err != nil {
		return r, fmt.Errorf("match %s: %w", quote(s.Match), err)
	}
	r.re = re
	if s.Category == "" && s.Severity == "" {
		return r, errors.New("category: empty; a rule must set a category, a severity or both")
	}
	if s.Category != "" {
		c, err := model.ParseCategory(s.Category)
		if err != nil {
			return r, err
		}
		r.category = c
	}
	if s.Severity != "" {
		v, err := model.ParseSeverity(s.Severity)
		if err != nil {
			return r, err
		}
		r.severity = v
	}
	return r, nil
}

// Len returns the number of rules.
func (t *RuleTable) Len() int {
	if t == nil {
		return 0
	}
	return len(t.rules)
}

// Apply sets the category (and severity, when the rule has one) of the first rule
// matching the alert. An alert no rule matches keeps what its format gave it.
func (t *RuleTable) Apply(a *model.Alert) {
	if t == nil || len(t.rules) == 0 {
		return
	}
	k := ruleKey{a.Rule, a.Title}
	t.mu.RLock()
	i, ok := t.memo[k]
	t.mu.RUnlock()
	if !ok {
		i = t.match(a.Rule, a.Title)
		t.mu.Lock()
		if len(t.memo) >= memoMax || t.memo == nil {
			t.memo = make(map[ruleKey]int32, 64)
		}
		// Copies: the alert's strings may share a buffer that is reused.
		t.memo[ruleKey{strings.Clone(k.rule), strings.Clone(k.title)}] = i
		t.mu.Unlock()
	}
	if i < 0 {
		return
	}
	r := &t.rules[i]
	if r.category != "" {
		a.Category = r.category
	}
	if r.severity != model.SeverityUnknown {
		a.Severity = r.severity
	}
}

// match returns the index of the first rule matching an alert with this rule name and
// title, or -1.
func (t *RuleTable) match(ruleName, title string) int32 {
	for i, r := range t.rules {
		var hit bool
		switch r.field {
		case fieldRule:
			hit = r.re.MatchString(ruleName)
		case fieldTitle:
			hit = r.re.MatchString(title)
		default:
			hit = r.re.MatchString(ruleName) || r.re.MatchString(title)
		}
		if hit {
			return int32(i)
		}
	}
	return -1
}

// ---------------------------------------------------------------------------
// Built-in category inference.

// categoryWords is the built-in inference: the first category with a word found in
// an alert's text wins, so the order settles overlaps ("ET SCAN Potential SSH Scan"
// is brute force, "ET POLICY SMB2 ..." lateral movement). Words match whole words of
// the text lowercased, with punctuation as spaces and camelCase split
// ("BGPSessionDown" reads "bgp session down"); a trailing * matches a word prefix.
var categoryWords = []struct {
	category model.Category
	words    []string
}{
	{model.CategoryC2, []string{"cobalt strike", "beacon*", "c2", "cnc", "command and control",
		"trojan*", "malware", "botnet*", "rat", "sliver", "meterpreter"}},
	{model.CategoryExfil, []string{"dns tunnel*", "tunneling", "tunnelling", "exfil*", "data theft",
		"data transfer", "large upload"}},
	{model.CategoryLateral, []string{"smb*", "lateral*", "psexec*", "pass the hash", "pass the ticket",
		"wmi", "winrm", "dcerpc", "remote service*"}},
	{model.CategoryBruteforce, []string{"brute*", "ssh*", "rdp", "password guess*", "guesser",
		"password spray*", "credential stuffing", "login fail*", "failed login*", "authentication fail*",
		"auth fail*", "too many failed"}},
	{model.CategoryDoS, []string{"flood*", "dos", "ddos", "denial of service", "amplification", "syn flood"}},
	{model.CategoryScan, []string{"scan*", "nmap", "portscan*", "port sweep", "sweep", "recon*", "masscan",
		"zmap"}},
	{model.CategoryRouting, []string{"bgp", "ospf", "isis", "routing", "route*", "flap*", "rib", "peer down",
		"neighbor down", "neighbour down", "link down", "interface down"}},
	{model.CategoryPolicy, []string{"policy", "info", "inappropriate", "chat", "games", "p2p", "tor",
		"user agent", "privacy"}},
}

// suricataClasses maps Suricata classtype descriptions (classification.config) to a
// category; it is consulted when the signature text names none.
var suricataClasses = map[string]model.Category{
	"attempted information leak":                                  model.CategoryScan,
	"information leak":                                            model.CategoryScan,
	"large scale information leak":                                model.CategoryScan,
	"detection of a network scan":                                 model.CategoryScan,
	"attempted denial of service":                                 model.CategoryDoS,
	"denial of service":                                           model.CategoryDoS,
	"detection of a denial of service attack":                     model.CategoryDoS,
	"a network trojan was detected":                               model.CategoryC2,
	"domain observed used for c2 detected":                        model.CategoryC2,
	"malware command and control activity detected":               model.CategoryC2,
	"an attempted login using a suspicious username was detected": model.CategoryBruteforce,
	"attempt to login by a default username and password":         model.CategoryBruteforce,
	"not suspicious traffic":                                      model.CategoryPolicy,
	"potential corporate privacy violation":                       model.CategoryPolicy,
	"inappropriate content was detected":                          model.CategoryPolicy,
	"generic protocol command decode":                             model.CategoryPolicy,
	"a client was using an unusual port":                          model.CategoryPolicy,
	"device retrieving external ip address detected":              model.CategoryPolicy,
	"possibly unwanted program detected":                          model.CategoryPolicy,
}

// inferCategory returns the category of the first text that names one, or other.
// The first text is a rule name, which repeats from alert to alert: its result is
// remembered.
func inferCategory(texts ...string) model.Category {
	for i, t := range texts {
		var c model.Category
		var ok bool
		if i == 0 {
			c, ok = cachedCategoryOf(t)
		} else {
			c, ok = categoryOf(t)
		}
		if ok {
			return c
		}
	}
	return model.CategoryOther
}

// ruleCategories remembers categoryOf for rule names; it is emptied when full, so
// hostile input cannot grow it without bound.
var ruleCategories = struct {
	sync.RWMutex
	m map[string]model.Category // "" means no category named
}{m: make(map[string]model.Category)}

func cachedCategoryOf(text string) (model.Category, bool) {
	ruleCategories.RLock()
	c, hit := ruleCategories.m[text]
	ruleCategories.RUnlock()
	if hit {
		return c, c != ""
	}
	c, ok := categoryOf(text)
	if len(text) <= 512 {
		ruleCategories.Lock()
		if len(ruleCategories.m) >= categoryCacheMax {
			clear(ruleCategories.m)
		}
		ruleCategories.m[strings.Clone(text)] = c
		ruleCategories.Unlock()
	}
	return c, ok
}

// categoryOf matches one text against categoryWords.
func categoryOf(text string) (model.Category, bool) {
	if text == "" {
		return "", false
	}
	var buf [256]byte
	plain := normalizeWords(buf[:0], text, false)
	if c, ok := matchWords(plain); ok {
		return c, true
	}
	var buf2 [320]byte
	camel := normalizeWords(buf2[:0], text, true)
	if string(camel) != string(plain) {
		return matchWords(camel)
	}
	return "", false
}

func matchWords(text []byte) (model.Category, bool) {
	for _, cw := range compiledWords {
		for _, w := range cw.words {
			if hasWord(text, w.b, w.prefix) {
				return cw.category, true
			}
		}
	}
	return "", false
}

type word struct {
	b      []byte
	prefix bool
}

// compiledWords is categoryWords as byte slices, so matching allocates nothing.
var compiledWords = func() []struct {
	category model.Category
	words    []word
} {
	out := make([]struct {
		category model.Category
		words    []word
	}, len(categoryWords))
	for i, cw := range categoryWords {
		out[i].category = cw.category
		for _, w := range cw.words {
			p := strings.HasSuffix(w, "*")
			out[i].words = append(out[i].words, word{b: []byte(strings.TrimSuffix(w, "*")), prefix: p})
		}
	}
	return out
}()

// normalizeWords lowercases ASCII letters, keeps digits, turns every run of other
// bytes into one space and pads with a space at each end; with camel it also splits
// camelCase words. Only the first 240 bytes of text are considered.
func normalizeWords(dst []byte, text string, camel bool) []byte {
	if len(text) > 240 {
		text = text[:240]
	}
	dst = append(dst, ' ')
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			dst = append(dst, c)
		case c >= 'A' && c <= 'Z':
			if camel && i > 0 && dst[len(dst)-1] != ' ' {
				p := text[i-1]
				lowerBefore := p >= 'a' && p <= 'z' || p >= '0' && p <= '9'
				upperRun := p >= 'A' && p <= 'Z' && i+1 < len(text) && text[i+1] >= 'a' && text[i+1] <= 'z'
				if lowerBefore || upperRun {
					dst = append(dst, ' ')
				}
			}
			dst = append(dst, c+('a'-'A'))
		default:
			if dst[len(dst)-1] != ' ' {
				dst = append(dst, ' ')
			}
		}
	}
	if dst[len(dst)-1] != ' ' {
		dst = append(dst, ' ')
	}
	return dst
}

// hasWord reports whether text (from normalizeWords) holds w as whole words, or as a
// word prefix when prefix is set.
func hasWord(text, w []byte, prefix bool) bool {
	for off := 0; ; {
		i := bytes.Index(text[off:], w)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(w)
		if text[i-1] == ' ' && (prefix || text[end] == ' ') {
			return true
		}
		off = i + 1
	}
}
