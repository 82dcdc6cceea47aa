package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/warroom/warroom/triage/model"
)

// suricataDecoder decodes Suricata EVE JSON: NDJSON (one event per line, as eve.json
// is written) or a JSON array of events. Only event_type "alert" becomes an alert;
// other events are items with ErrSkipped. Items are numbered by non-blank line (or
// array element); blank lines are not items.
//
// Mapping: timestamp → EventTime; alert.signature → Rule and Title ("sid:N" when the
// signature is empty); "gid:sid:rev" → SourceRef; alert.severity 1 → high, 2 → medium,
// 3 → low, 4 and above → info (absent or 0 is Suricata's default priority 3, low);
// src_ip → ip/src, dest_ip → ip/dst, community_id → community_id/observer, host (the
// sensor name) → host/observer; proto, src_port, dest_port, app_proto, in_iface,
// alert.action and alert.category → labels. The category is inferred from the
// signature, then from the classtype text in alert.category.
type suricataDecoder struct{}

var _ Decoder = suricataDecoder{}

func init() { Register("suricata", suricataDecoder{}) }

func (suricataDecoder) ContentTypes() []string {
	return []string{"application/x-ndjson", "application/json", "text/plain"}
}

// eveEvent holds the EVE fields warroom reads. Strings that repeat across events
// (signature, protocol, interface, sensor) are interned; timestamp aliases the input.
type eveEvent struct {
	labels      map[string]string // a labels map to reuse (see Scratch), or nil
	timestamp   []byte
	flowID      int64
	inIface     string
	eventType   string
	srcIP       string
	srcPort     int64
	destIP      string
	destPort    int64
	proto       string
	communityID string
	appProto    string
	host        string
	action      string
	gid         int64
	signatureID int64
	rev         int64
	signature   string
	category    string
	severity    int64
}

func (ev *eveEvent) scan(s *scanner) error {
	err := s.object("", func(key []byte) error {
		var err error
		switch string(key) {
		case "timestamp":
			ev.timestamp, err = s.bytes("timestamp")
		case "flow_id":
			ev.flowID, err = s.int("flow_id")
		case "in_iface":
			ev.inIface, err = s.str("in_iface", true)
		case "event_type":
			ev.eventType, err = s.str("event_type", true)
		case "src_ip":
			ev.srcIP, err = s.str("src_ip", false)
		case "src_port":
			ev.srcPort, err = s.int("src_port")
		case "dest_ip":
			ev.destIP, err = s.str("dest_ip", false)
		case "dest_port":
			ev.destPort, err = s.int("dest_port")
		case "proto":
			ev.proto, err = s.str("proto", true)
		case "community_id":
			ev.communityID, err = s.str("community_id", false)
		case "app_proto":
			ev.appProto, err = s.str("app_proto", true)
		case "host":
			ev.host, err = s.str("host", true)
		case "alert":
			err = s.object("alert", ev.scanAlert(s))
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

func (ev *eveEvent) scanAlert(s *scanner) func([]byte) error {
	return func(key []byte) error {
		var err error
		switch string(key) {
		case "action":
			ev.action, err = s.str("alert.action", true)
		case "gid":
			ev.gid, err = s.int("alert.gid")
		case "signature_id":
			ev.signatureID, err = s.int("alert.signature_id")
		case "rev":
			ev.rev, err = s.int("alert.rev")
		case "signature":
			ev.signature, err = s.str("alert.signature", true)
		case "category":
			ev.category, err = s.str("alert.category", true)
		case "severity":
			ev.severity, err = s.int("alert.severity")
		default:
			err = s.skip()
		}
		return err
	}
}

func (suricataDecoder) Decode(body []byte, opts Options) ([]Item, error) {
	scr := opts.Scratch
	elems, err := elementsInto(scr.elemBuf(), body)
	if err != nil {
		return nil, err
	}
	defer scr.keepElems(elems)
	items, slab := scr.alloc(len(elems))
	ents := scr.entities(entitiesPerAlert * len(elems))
	raw := bodyCopy{src: body, borrow: scr.borrowed()}
	var (
		ev eveEvent
		sc scanner
	)
	for i, line := range elems {
		if et, ok := peekEventType(line); ok && et != "alert" {
			items[i].Err = skipError(et)
			continue
		}
		ev = eveEvent{}
		a := &slab[i]
		a.Entities = slabEntities(ents, i)
		ev.labels = scr.labelMap(i)
		err := decodeSuricata(&sc, line, &ev, a, opts.Source)
		scr.keepLabels(i, ev.labels)
		if err != nil {
			items[i].Err = err
			continue
		}
		a.Raw = raw.raw(line)
		finish(a, "suricata", opts)
		items[i].Alert = a
	}
	return items, nil
}

func decodeSuricata(sc *scanner, line []byte, ev *eveEvent, a *model.Alert, source string) error {
	if err := checkUTF8(line); err != nil {
		return err
	}
	*sc = scanner{b: line, scratch: sc.scratch}
	if err := ev.scan(sc); err != nil {
		return err
	}
	switch {
	case ev.eventType == "" && ev.signature == "" && ev.signatureID == 0:
		return errors.New(`missing event_type; want "alert" (other events are skipped)`)
	case ev.eventType != "" && ev.eventType != "alert":
		return skipError(ev.eventType)
	case ev.signature == "" && ev.signatureID == 0:
		return errors.New("event_type alert without alert.signature or alert.signature_id")
	}
	t, err := parseISOTimeBytes("timestamp", ev.timestamp)
	if err != nil {
		return err
	}
	a.EventTime = t
	es := entities{list: a.Entities}
	if err := es.ip("src_ip", ev.srcIP, model.RoleSrc); err != nil {
		return err
	}
	if err := es.ip("dest_ip", ev.destIP, model.RoleDst); err != nil {
		return err
	}
	es.communityID(ev.communityID)
	_ = es.host("host", ev.host, model.RoleObserver, false)
	a.Entities = es.list

	if ev.signatureID != 0 {
		var num [64]byte
		b := strconv.AppendInt(num[:0], ev.gid, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, ev.signatureID, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, ev.rev, 10)
		a.SourceRef = internBytes(b)
	}
	a.Rule = ev.signature
	if a.Rule == "" {
		a.Rule = "sid:" + strconv.FormatInt(ev.signatureID, 10)
	}
	a.Title = a.Rule
	a.Severity = suricataSeverity(ev.severity)
	a.Category = suricataCategory(ev.signature, ev.category)

	l := labels{m: ev.labels}
	defer func() { ev.labels = l.m }()
	for _, kv := range [...][2]string{
		{"proto", ev.proto},
		{"dest_port", portString(ev.destPort)},
		{"app_proto", ev.appProto},
		{"in_iface", ev.inIface},
		{"action", ev.action},
		{"class", ev.category},
	} {
		if err := l.put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	a.Labels = labelsOf(l.m)
	var fp fingerprinter
	fp.str("suricata").str(source).str(ev.host).int(ev.flowID).str(a.SourceRef).bytes(ev.timestamp).
		str(ev.srcIP).int(ev.srcPort).str(ev.destIP).int(ev.destPort)
	a.Fingerprint = fp.sum()
	return nil
}

// suricataSeverity maps EVE alert.severity (the rule priority, 1 most severe).
func suricataSeverity(p int64) model.Severity {
	switch {
	case p == 1:
		return model.SeverityHigh
	case p == 2:
		return model.SeverityMedium
	case p == 3 || p <= 0:
		return model.SeverityLow
	}
	return model.SeverityInfo
}

// categoryCache remembers the category of (signature, classtype) pairs: a sensor
// sends the same few hundred signatures over and over.
var categoryCache = struct {
	sync.RWMutex
	m map[[2]string]model.Category
}{m: make(map[[2]string]model.Category)}

const categoryCacheMax = 8192

func suricataCategory(signature, class string) model.Category {
	key := [2]string{signature, class}
	categoryCache.RLock()
	c, ok := categoryCache.m[key]
	categoryCache.RUnlock()
	if ok {
		return c
	}
	c, ok = categoryOf(signature)
	if !ok {
		c, ok = suricataClasses[lowerASCII(class)]
	}
	if !ok {
		c, ok = categoryOf(class)
	}
	if !ok {
		c = model.CategoryOther
	}
	if len(signature)+len(class) <= 512 {
		key = [2]string{strings.Clone(signature), strings.Clone(class)}
		categoryCache.Lock()
		if len(categoryCache.m) >= categoryCacheMax {
			clear(categoryCache.m)
		}
		categoryCache.m[key] = c
		categoryCache.Unlock()
	}
	return c
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// portString formats a port, or "" for none (ICMP, absent).
func portString(p int64) string {
	if p <= 0 {
		return ""
	}
	return strconv.FormatInt(p, 10)
}

// skipErrors holds the error of each EVE event type Suricata documents, made once.
var skipErrors = func() map[string]error {
	m := map[string]error{}
	for _, et := range []string{"anomaly", "dcerpc", "dhcp", "dnp3", "dns", "drop", "fileinfo", "flow", "frame",
		"ftp", "ftp_data", "http", "http2", "ike", "krb5", "modbus", "mqtt", "netflow", "nfs", "pgsql", "quic",
		"rdp", "rfb", "sip", "smb", "smtp", "snmp", "ssh", "stats", "tftp", "tls", "arp", "bittorrent_dht",
		"ldap", "pop3", "websocket", "mdns", "enip", "doh2", "template", "ike2"} {
		m[et] = fmt.Errorf("event_type %s: %w", quote(et), ErrSkipped)
	}
	return m
}()

func skipError(eventType string) error {
	if err, ok := skipErrors[eventType]; ok {
		return err
	}
	return fmt.Errorf("event_type %s: %w", quote(eventType), ErrSkipped)
}

// peekEventType finds the top-level event_type of an EVE line without decoding it,
// so the many non-alert events a sensor may send are skipped cheaply. ok is false
// when it cannot tell; the line is then decoded in full.
func peekEventType(b []byte) (string, bool) {
	depth := 0
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			depth++
			expectKey = depth == 1
		case '[':
			depth++
			expectKey = false
		case '}', ']':
			depth--
			expectKey = false
		case ',':
			expectKey = depth == 1
		case '"':
			end := endOfString(b, i)
			if end < 0 {
				return "", false
			}
			if expectKey && string(b[i+1:end]) == "event_type" {
				j := skipSpace(b, end+1)
				if j >= len(b) || b[j] != ':' {
					return "", false
				}
				j = skipSpace(b, j+1)
				if j >= len(b) || b[j] != '"' {
					return "", false
				}
				vend := endOfString(b, j)
				if vend < 0 {
					return "", false
				}
				v := b[j+1 : vend]
				for _, c := range v {
					if c == '\\' || c < 0x20 || c >= 0x80 {
						return "", false
					}
				}
				if string(v) == "alert" {
					return "alert", true
				}
				return internBytes(v), true
			}
			expectKey = false
			i = end
		}
	}
	return "", false
}

// endOfString returns the index of the quote closing the string opening at b[i].
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}
