package ingest

import (
	"errors"
	"strconv"
	"strings"

	"github.com/warroom/warroom/triage/model"
)

// zeekDecoder decodes Zeek notice.log written as JSON (LogAscii::use_json=T): one
// notice per line, or a JSON array of notices. ts may be epoch seconds (the default)
// or ISO 8601 (JSON::TS_ISO8601).
//
// Mapping: note → Rule (required); msg → Title (note when empty); ts → EventTime;
// uid → SourceRef; id.orig_h and src → ip/src, id.resp_h and dst → ip/dst (each must be
// an address); peer_descr (the Zeek node) → label. Zeek notices carry no severity:
// it follows the category (c2, exfil, lateral → high; policy → low; others → medium),
// and the category is inferred from note then msg ("Scan::Port_Scan" → scan,
// "SSH::Password_Guessing" → bruteforce). sub, proto, ports, n, actions, fuid,
// peer_descr and suppress_for become labels.
type zeekDecoder struct{}

var _ Decoder = zeekDecoder{}

func init() { Register("zeek", zeekDecoder{}) }

func (zeekDecoder) ContentTypes() []string {
	return []string{"application/x-ndjson", "application/json", "text/plain"}
}

type zeekNotice struct {
	TS          scalar   `json:"ts"`
	UID         string   `json:"uid"`
	OrigH       string   `json:"id.orig_h"`
	OrigP       int64    `json:"id.orig_p"`
	RespH       string   `json:"id.resp_h"`
	RespP       int64    `json:"id.resp_p"`
	FUID        string   `json:"fuid"`
	FileDesc    string   `json:"file_desc"`
	Proto       string   `json:"proto"`
	Note        string   `json:"note"`
	Msg         string   `json:"msg"`
	Sub         string   `json:"sub"`
	Src         string   `json:"src"`
	Dst         string   `json:"dst"`
	P           int64    `json:"p"`
	N           *int64   `json:"n"`
	PeerDescr   string   `json:"peer_descr"`
	Actions     []string `json:"actions"`
	SuppressFor *float64 `json:"suppress_for"`
}

func (zeekDecoder) Decode(body []byte, opts Options) ([]Item, error) {
	elems, err := elements(body)
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(elems))
	raw := bodyCopy{src: body}
	for i, elem := range elems {
		a, err := decodeZeek(elem, opts)
		if err != nil {
			items[i].Err = err
			continue
		}
		a.Raw = raw.raw(elem)
		finish(a, "zeek", opts)
		items[i].Alert = a
	}
	return items, nil
}

func decodeZeek(elem []byte, opts Options) (*model.Alert, error) {
	var n zeekNotice
	if err := decodeElement(elem, &n); err != nil {
		return nil, err
	}
	if n.Note == "" {
		return nil, errors.New(`missing note: want a notice type such as "Scan::Port_Scan"`)
	}
	t, err := parseEpochOrISO("ts", n.TS)
	if err != nil {
		return nil, err
	}
	a := &model.Alert{
		Rule:      n.Note,
		Title:     firstNonEmpty(n.Msg, n.Note),
		EventTime: t,
		SourceRef: clip(n.UID, maxRuleLen),
	}
	a.Category = inferCategory(n.Note, n.Msg)
	a.Severity = severityForCategory(a.Category)

	es := entities{list: make([]model.Entity, 0, 4)}
	for _, f := range [...]struct {
		field, value string
		role         model.Role
	}{
		{"src", n.Src, model.RoleSrc},
		{"id.orig_h", n.OrigH, model.RoleSrc},
		{"dst", n.Dst, model.RoleDst},
		{"id.resp_h", n.RespH, model.RoleDst},
	} {
		if err := es.ip(f.field, f.value, f.role); err != nil {
			return nil, err
		}
	}
	a.Entities = es.list

	var l labels
	for _, kv := range [...][2]string{
		{"uid", n.UID},
		{"proto", n.Proto},
		{"orig_port", portString(n.OrigP)},
		{"resp_port", portString(n.RespP)},
		{"port", portString(n.P)},
		{"fuid", n.FUID},
		{"peer_descr", n.PeerDescr},
		{"actions", strings.Join(n.Actions, ",")},
	} {
		if err := l.put(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	if n.N != nil {
		_ = l.put("n", strconv.FormatInt(*n.N, 10))
	}
	if n.SuppressFor != nil {
		_ = l.put("suppress_for", strconv.FormatFloat(*n.SuppressFor, 'f', -1, 64))
	}
	l.note("sub", n.Sub)
	l.note("file_desc", n.FileDesc)
	a.Labels = l.m

	var fp fingerprinter
	fp.str("zeek").str(opts.Source).str(n.TS.text).str(n.Note).str(n.UID).str(n.Src).str(n.Dst).
		str(n.OrigH).str(n.RespH).str(n.Msg).str(n.Sub)
	a.Fingerprint = fp.sum()
	return a, nil
}
