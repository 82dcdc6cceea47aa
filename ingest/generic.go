package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/warroom/warroom/triage/model"
)

// genericDecoder decodes warroom's own alert format, for tools without a decoder of
// their own and for scripts. A body is one JSON object, a JSON array of them, or
// NDJSON (one object per line). Each object:
//
//	{
//	  "id":          "optional; the sender's id, used for deduplication",
//	  "rule":        "required; the detection's stable name, e.g. ssh-bruteforce",
//	  "title":       "what a human reads; defaults to rule",
//	  "severity":    "required; critical, high, medium, low or info",
//	  "category":    "optional; bruteforce, scan, c2, lateral, exfil, dos, routing, policy or other (inferred from rule and title when absent)",
//	  "event_time":  "required; RFC 3339, e.g. 2026-11-20T09:00:30Z",
//	  "entities":    [{"kind": "ip", "value": "203.0.113.7", "role": "src"}],
//	  "labels":      {"string": "string"},
//	  "url":         "optional; an http(s) link back to the source",
//	  "description": "optional; free text, kept (cut to 1 KiB) as label description",
//	  "status":      "optional; firing or resolved",
//	  "drill_id":    "optional; marks a synthetic alert from a gap drill"
//	}
//
// Entity kinds: ip, host, user, device, interface, community_id, domain; roles: src,
// dst, observer; at most 32 entities. Unknown fields are ignored, so senders may add
// their own. Values of the wrong JSON type, unknown kinds, roles, severities or
// categories reject the object with an error naming the field.
type genericDecoder struct{}

var _ Decoder = genericDecoder{}

func init() { Register("generic", genericDecoder{}) }

func (genericDecoder) ContentTypes() []string {
	return []string{"application/json", "application/x-ndjson"}
}

const maxEntities = 32

type genericAlert struct {
	id, rule, title, severity, category string
	eventTime                           []byte
	url, description, status, drillID   string
	entities                            []genericEntity
	labels                              labels
	// arena is where the alert's entities are cut from, when it has room.
	arena []model.Entity
}

type genericEntity struct {
	kind, value, role string
}

func (g *genericAlert) scan(s *scanner) error {
	err := s.object("", func(key []byte) error {
		var err error
		switch string(key) {
		case "id":
			g.id, err = s.str("id", false)
		case "rule":
			g.rule, err = s.str("rule", true)
		case "title":
			g.title, err = s.str("title", false)
		case "severity":
			g.severity, err = s.str("severity", true)
		case "category":
			g.category, err = s.str("category", true)
		case "event_time":
			g.eventTime, err = s.bytes("event_time")
		case "url":
			g.url, err = s.str("url", false)
		case "description":
			g.description, err = s.str("description", false)
		case "status":
			g.status, err = s.str("status", true)
		case "drill_id":
			g.drillID, err = s.str("drill_id", false)
		case "entities":
			g.entities = g.entities[:0]
			err = s.array("entities", func(i int) error {
				if i >= maxEntities {
					return fmt.Errorf("entities: more than %d; send at most %d", maxEntities, maxEntities)
				}
				var e genericEntity
				err := s.objectAt(path{"entities", i, ""}, func(k []byte) error {
					var err error
					switch string(k) {
					case "kind":
						e.kind, err = s.strAt(path{"entities", i, "kind"}, true)
					case "value":
						e.value, err = s.strAt(path{"entities", i, "value"}, false)
					case "role":
						e.role, err = s.strAt(path{"entities", i, "role"}, true)
					default:
						err = s.skip()
					}
					return err
				})
				g.entities = append(g.entities, e)
				return err
			})
		case "labels":
			err = s.object("labels", func(k []byte) error {
				if c := s.peek(); c != '"' && c != 'n' {
					return s.typeErr("labels."+clip(string(k), MaxLabelKey), "a string")
				}
				key := internBytes(k) // before reading the value, which may reuse k's buffer
				b, err := s.bytes("")
				if err != nil {
					return err
				}
				if len(b) > MaxLabelValue {
					return fmt.Errorf("label %s is %d bytes; at most %d", clip(key, MaxLabelKey), len(b), MaxLabelValue)
				}
				return g.labels.put(key, string(b))
			})
		default:
			err = s.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.end()
}

func (genericDecoder) Decode(body []byte, opts Options) ([]Item, error) {
	scr := opts.Scratch
	elems, err := elementsInto(scr.elemBuf(), body)
	if err != nil {
		return nil, err
	}
	defer scr.keepElems(elems)
	items, slab := scr.alloc(len(elems))
	raw := bodyCopy{src: body, borrow: scr.borrowed()}
	// The alerts' entities are cut from one reused arena while it lasts.
	arena := scr.entities(entitiesPerAlert * len(elems))
	var (
		sc   scanner
		ents []genericEntity
	)
	for i, elem := range elems {
		g := genericAlert{entities: ents[:0]}
		g.labels.m = scr.labelMap(i)
		a := &slab[i]
		g.arena = arena
		err := decodeGeneric(&sc, elem, &g, a, opts)
		arena = g.arena
		scr.keepLabels(i, g.labels.m)
		if err != nil {
			items[i].Err = err
			continue
		}
		ents = g.entities
		a.Raw = raw.raw(elem)
		finish(a, "generic", opts)
		items[i].Alert = a
	}
	return items, nil
}

func decodeGeneric(sc *scanner, elem []byte, g *genericAlert, a *model.Alert, opts Options) error {
	if err := checkUTF8(elem); err != nil {
		return err
	}
	*sc = scanner{b: elem, scratch: sc.scratch}
	if err := g.scan(sc); err != nil {
		return err
	}
	if g.rule == "" {
		return errors.New("missing rule: name the detection, e.g. \"ssh-bruteforce\"")
	}
	if g.severity == "" {
		return errors.New("missing severity; want one of critical, high, medium, low, info")
	}
	sev, err := model.ParseSeverity(g.severity)
	if err != nil {
		return err
	}
	if len(g.eventTime) == 0 {
		return missingTime("event_time")
	}
	t, err := parseISOTimeBytes("event_time", g.eventTime)
	if err != nil {
		return fmt.Errorf("event_time %s: want an RFC 3339 time like 2026-11-20T09:00:30Z", quote(string(g.eventTime)))
	}
	a.EventTime = t
	a.Rule = g.rule
	a.Title = g.title
	a.Severity = sev
	if g.category != "" {
		c, err := model.ParseCategory(g.category)
		if err != nil {
			return err
		}
		a.Category = c
	} else {
		a.Category = inferCategory(g.rule, g.title)
	}
	switch g.status {
	case "", "firing", "resolved":
		a.Status = g.status
	default:
		return fmt.Errorf("status %s: want firing or resolved", quote(g.status))
	}
	if g.url != "" {
		u, ok := linkURL(g.url)
		if !ok {
			return fmt.Errorf("url %s: want an absolute http or https URL", quote(g.url))
		}
		a.URL = u
	}
	a.SourceRef = clip(g.id, maxRuleLen)
	a.DrillID = clip(g.drillID, maxRuleLen)

	n := len(g.entities)
	var list []model.Entity
	if n <= len(g.arena) {
		list, g.arena = g.arena[:0:n], g.arena[n:]
	} else {
		list = make([]model.Entity, 0, n)
	}
	es := entities{list: list}
	for i, e := range g.entities {
		if err := es.explicit(i, e); err != nil {
			return err
		}
	}
	a.Entities = es.list
	g.labels.note("description", g.description)
	a.Labels = labelsOf(g.labels.m)

	var fp fingerprinter
	fp.str("generic").str(opts.Source)
	if g.id != "" {
		fp.str(g.id)
	} else {
		fp.str(g.rule).bytes(g.eventTime).str(g.status)
		for _, e := range a.Entities {
			fp.str(string(e.Kind)).str(e.Value).str(string(e.Role))
		}
	}
	a.Fingerprint = fp.sum()
	return nil
}

// explicit adds an entity the sender named with kind and role.
func (es *entities) explicit(i int, e genericEntity) error {
	field := func(name string) string { return "entities[" + strconv.Itoa(i) + "]." + name }
	var role model.Role
	switch model.Role(e.role) {
	case model.RoleSrc, model.RoleDst, model.RoleObserver:
		role = model.Role(e.role)
	case "":
		return fmt.Errorf("%s: missing; want src, dst or observer", field("role"))
	default:
		return fmt.Errorf("%s %s: want src, dst or observer", field("role"), quote(e.role))
	}
	if e.value == "" {
		return fmt.Errorf("%s: missing", field("value"))
	}
	switch model.EntityKind(e.kind) {
	case model.EntityIP:
		return es.ip(field("value"), e.value, role)
	case model.EntityHost:
		return es.host(field("value"), e.value, role, true)
	case model.EntityUser, model.EntityDevice:
		return es.name(model.EntityKind(e.kind), field("value"), e.value, role, true)
	case model.EntityDomain:
		d := strings.TrimSuffix(e.value, ".")
		if !validName(d) {
			return fmt.Errorf("%s %s: not a domain name", field("value"), quote(e.value))
		}
		es.add(model.EntityDomain, strings.ToLower(d), role)
	case model.EntityInterface, model.EntityCommunityID:
		if !validName(e.value) {
			return fmt.Errorf("%s %s: not a valid %s (no spaces or control characters, at most %d bytes)",
				field("value"), quote(e.value), e.kind, maxEntityLen)
		}
		es.add(model.EntityKind(e.kind), e.value, role)
	case "":
		return fmt.Errorf("%s: missing; want one of ip, host, user, device, interface, community_id, domain", field("kind"))
	default:
		return fmt.Errorf("%s %s: want one of ip, host, user, device, interface, community_id, domain",
			field("kind"), quote(e.kind))
	}
	return nil
}

// linkURL accepts an absolute http or https URL of at most 2 KiB, the only links
// shown to people in rooms.
func linkURL(s string) (string, bool) {
	if len(s) > 2048 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	return s, true
}
