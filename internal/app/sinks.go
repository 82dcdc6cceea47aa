package app

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/triage/model"
)

// auditFeed turns each audit entry into a SIEM event for every configured sink. The
// store calls it inside the entry's own transaction, so the queue holds exactly the
// changes that were committed: incident openings, merges, status changes, playbooks,
// and every action proposal, approval, refusal, result, revert and expiry.
func auditFeed(names []string) func(*model.AuditEntry) ([]string, []byte) {
	names = append([]string(nil), names...)
	sort.Strings(names)
	return func(e *model.AuditEntry) ([]string, []byte) {
		ev := sinks.Event{
			// The chain position and hash make the id stable across re-deliveries.
			ID:       fmt.Sprintf("audit-%d-%.16s", e.Seq, e.Hash),
			Time:     e.At.UTC(),
			Type:     sinks.Type(e.Action),
			Actor:    e.Actor,
			Incident: e.Subject,
			Fields:   map[string]string{"audit_seq": strconv.FormatInt(e.Seq, 10), "audit_hash": e.Hash},
		}
		var detail map[string]any
		if len(e.Detail) > 0 && json.Unmarshal(e.Detail, &detail) == nil {
			for k, v := range detail {
				if len(ev.Fields) >= 60 {
					break
				}
				s, ok := v.(string)
				if !ok {
					b, _ := json.Marshal(v)
					s = string(b)
				}
				if len(s) > 4000 {
					s = s[:4000]
				}
				ev.Fields[k] = s
			}
		}
		if ev.Validate() != nil {
			// Keep the event deliverable: drop the details that do not fit the wire
			// formats, the audit log keeps them.
			ev.Fields = map[string]string{"audit_seq": strconv.FormatInt(e.Seq, 10), "audit_hash": e.Hash}
			if ev.Validate() != nil {
				return nil, nil
			}
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, nil
		}
		return names, b
	}
}
