package narrate

import (
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Redactor replaces internal addresses, host and device names, user names and
// domains under the internal DNS suffixes with stable placeholders (IP-1, HOST-1,
// USER-1, DEVICE-1, DOMAIN-1) before facts leave the process, and puts the real values back into the answer. Placeholders are numbered
// in the order the values first appear in the incident, so the same incident gets
// the same placeholders each time it is narrated.
type Redactor struct {
	toPlace map[string]string // lowercased value -> placeholder
	toValue map[string]string // placeholder -> value
	values  []string          // lowercased values, longest first
}

// defaultInternal are the ranges redacted besides the configured internal networks.
var defaultInternal = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("::1/128"),
}

// ipLike finds address literals in free text (alert titles, labels).
var ipLike = regexp.MustCompile(`[0-9A-Fa-f:.]*[0-9][0-9A-Fa-f:.]*`)

// ipv4Like finds dotted-quad IPv4 literals in free text, wherever they stand
// ("dst:10.0.0.5", "root@10.0.0.5", "host=10.0.0.5"); ipLike alone can take a
// neighbouring hex letter into its match and miss them.
var ipv4Like = regexp.MustCompile(`[0-9]{1,3}(?:\.[0-9]{1,3}){3}`)

// domainLike finds DNS names (two labels or more) in free text.
var domainLike = regexp.MustCompile(`[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)+`)

// placeholder matches what the redactor writes.
var placeholder = regexp.MustCompile(`\b(?:IP|HOST|USER|DEVICE|DOMAIN)-[0-9]+\b`)

// underDomain reports whether name is one of the DNS suffixes or a name under one.
func underDomain(name string, suffixes []string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, s := range suffixes {
		if name == s || strings.HasSuffix(name, "."+s) {
			return true
		}
	}
	return false
}

// NewRedactor builds the redactor of an incident's facts. internal lists the
// networks (besides RFC 1918, RFC 6598, ULA, loopback and link-local) whose
// addresses are redacted, domains the DNS suffixes (lowercase, without a leading
// dot) whose names are.
func NewRedactor(f *Facts, internal []netip.Prefix, domains []string) *Redactor {
	r := &Redactor{toPlace: map[string]string{}, toValue: map[string]string{}}
	suffixes := make([]string, 0, len(domains))
	for _, d := range domains {
		if d = strings.ToLower(strings.Trim(strings.TrimSpace(d), ".")); d != "" {
			suffixes = append(suffixes, d)
		}
	}
	domains = suffixes
	counts := map[string]int{}
	nets := append(append([]netip.Prefix(nil), defaultInternal...), internal...)
	isInternal := func(s string) bool {
		a, err := netip.ParseAddr(s)
		if err != nil {
			if p, err := netip.ParsePrefix(s); err == nil {
				a = p.Addr()
			} else {
				return false
			}
		}
		a = a.Unmap()
		for _, n := range nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
	add := func(kind, v string) {
		k := strings.ToLower(strings.TrimSpace(v))
		if len(k) < 3 {
			return // too short to replace safely in free text
		}
		if _, ok := r.toPlace[k]; ok {
			return
		}
		counts[kind]++
		p := kind + "-" + strconv.Itoa(counts[kind])
		r.toPlace[k], r.toValue[p] = p, v
	}
	consider := func(es []EntityFacts) {
		for _, e := range es {
			switch e.Kind {
			case "ip":
				if isInternal(e.Value) {
					add("IP", e.Value)
				}
			case "host":
				add("HOST", e.Value)
			case "device":
				add("DEVICE", e.Value)
			case "user":
				add("USER", e.Value)
			case "domain":
				if underDomain(e.Value, domains) {
					add("DOMAIN", e.Value)
				}
			}
		}
	}
	consider(f.Incident.Entities)
	for _, a := range f.Alerts {
		consider(a.Entities)
	}
	// Internal addresses written only in free text.
	texts := []string{f.Incident.Title}
	for _, x := range f.Rules {
		texts = append(texts, x.Rule) // rules of alerts outside the sample too
	}
	for _, a := range f.Alerts {
		texts = append(texts, a.Title, a.Rule)
		for k, v := range a.Labels {
			texts = append(texts, k, v)
		}
	}
	for _, a := range f.Actions {
		texts = append(texts, a.Target)
	}
	if f.Playbook != nil {
		for _, a := range f.Playbook.Actions {
			texts = append(texts, a.Targets...)
		}
	}
	for _, t := range texts {
		for _, m := range ipLike.FindAllString(t, -1) {
			m = strings.Trim(m, ".:")
			if strings.Count(m, ":") == 1 && strings.Contains(m, ".") {
				m, _, _ = strings.Cut(m, ":") // an IPv4 address with a port
			}
			if isInternal(m) {
				add("IP", m)
			}
		}
		for _, m := range ipv4Like.FindAllString(t, -1) {
			if isInternal(m) {
				add("IP", m)
			}
		}
		if len(domains) > 0 {
			for _, m := range domainLike.FindAllString(t, -1) {
				if underDomain(m, domains) {
					add("DOMAIN", m)
				}
			}
		}
	}
	for k := range r.toPlace {
		r.values = append(r.values, k)
	}
	sort.Slice(r.values, func(i, j int) bool {
		if len(r.values[i]) != len(r.values[j]) {
			return len(r.values[i]) > len(r.values[j])
		}
		return r.values[i] < r.values[j]
	})
	return r
}

// Len is how many values the redactor replaces.
func (r *Redactor) Len() int { return len(r.toPlace) }

// Redact replaces every known value in s, case-insensitively and only where it
// stands alone (not inside a longer name or address). Separators such as @, \ and :
// end a value: DOMAIN\user, user@host and key:value are all redacted.
func (r *Redactor) Redact(s string) string {
	if r == nil || len(r.values) == 0 || s == "" {
		return s
	}
	lower := strings.ToLower(s)
	if len(lower) != len(s) {
		lower = asciiLower(s)
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		hit := ""
		if i == 0 || !nameByte(s[i-1]) || separator(s[i-1]) {
			for _, v := range r.values {
				if strings.HasPrefix(lower[i:], v) {
					end := i + len(v)
					// An IPv4 address may be followed by a port.
					port := end < len(s) && s[end] == ':' && !strings.Contains(v, ":") && ipv4(v)
					// A sentence may end right after a name ("on web-01.").
					stop := end < len(s) && (s[end] == '.' || s[end] == ':') && (end+1 == len(s) || !alnum(s[end+1]))
					if end == len(s) || !nameByte(s[end]) || separator(s[end]) || port || stop {
						hit = v
						break
					}
				}
			}
		}
		if hit != "" {
			b.WriteString(r.toPlace[hit])
			i += len(hit)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// ipv4 reports whether v is an IPv4 address or prefix.
func ipv4(v string) bool {
	a, err := netip.ParseAddr(v)
	if err != nil {
		p, err := netip.ParsePrefix(v)
		return err == nil && p.Addr().Is4()
	}
	return a.Is4()
}

// asciiLower lowercases ASCII letters only, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func alnum(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// nameByte reports whether c may continue a host name, user name or address.
func nameByte(c byte) bool {
	return c == '.' || c == '-' || c == '_' || c == ':' || c == '@' || c == '\\' ||
		'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// separator reports whether c, though allowed in names and addresses, separates a
// value from what it is glued to: the domain of DOMAIN\user, the host of user@host,
// the key of key:value. An IPv6 value's own colons are inside the value, so they
// never reach this check.
func separator(c byte) bool { return c == '@' || c == '\\' || c == ':' }

// Restore puts the real values back in place of the placeholders in s.
func (r *Redactor) Restore(s string) string {
	if r == nil || len(r.toValue) == 0 {
		return s
	}
	return placeholder.ReplaceAllStringFunc(s, func(p string) string {
		if v, ok := r.toValue[p]; ok {
			return v
		}
		return p
	})
}

// Facts returns a copy of f with every value redacted.
func (r *Redactor) Facts(f *Facts) *Facts {
	if r == nil || len(r.values) == 0 {
		return f
	}
	c := *f
	c.Incident.Title = r.Redact(f.Incident.Title)
	c.Incident.Commander = r.Redact(f.Incident.Commander)
	c.Incident.Entities = r.entities(f.Incident.Entities)
	c.Rules = make([]RuleFacts, len(f.Rules))
	for i, x := range f.Rules {
		x.Rule = r.Redact(x.Rule)
		c.Rules[i] = x
	}
	c.Alerts = make([]AlertFacts, len(f.Alerts))
	for i, a := range f.Alerts {
		a.Title, a.Rule = r.Redact(a.Title), r.Redact(a.Rule)
		a.Entities = r.entities(a.Entities)
		if a.Labels != nil {
			l := make(map[string]string, len(a.Labels))
			for k, v := range a.Labels {
				l[r.Redact(k)] = r.Redact(v)
			}
			a.Labels = l
		}
		c.Alerts[i] = a
	}
	if f.Playbook != nil {
		pb := *f.Playbook
		pb.Actions = make([]PlaybookAction, len(f.Playbook.Actions))
		for i, a := range f.Playbook.Actions {
			ts := make([]string, len(a.Targets))
			for j, t := range a.Targets {
				ts[j] = r.Redact(t)
			}
			if a.Targets == nil {
				ts = nil
			}
			a.Targets = ts
			pb.Actions[i] = a
		}
		c.Playbook = &pb
	}
	if f.Actions != nil {
		c.Actions = make([]ActionFacts, len(f.Actions))
		for i, a := range f.Actions {
			a.Target = r.Redact(a.Target)
			c.Actions[i] = a
		}
	}
	return &c
}

func (r *Redactor) entities(es []EntityFacts) []EntityFacts {
	if es == nil {
		return nil
	}
	out := make([]EntityFacts, len(es))
	for i, e := range es {
		e.Value = r.Redact(e.Value)
		out[i] = e
	}
	return out
}
