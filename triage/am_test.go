package triage

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/triage/model"
)

// decodeAM decodes an Alertmanager webhook payload with the real decoder once it is
// registered, and with a minimal stand-in until then.
func decodeAM(t testing.TB, body []byte, at time.Time) []*model.Alert {
	t.Helper()
	if _, ok := ingest.Lookup("alertmanager"); ok {
		return decodeOne(t, "alertmanager", body, at)
	}
	var p struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			StartsAt    time.Time         `json:"startsAt"`
			Fingerprint string            `json:"fingerprint"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("alertmanager payload: %v", err)
	}
	var out []*model.Alert
	for _, a := range p.Alerts {
		sev := model.SeverityInfo
		if a.Labels["severity"] == "warning" {
			sev = model.SeverityMedium
		}
		host, _, _ := net.SplitHostPort(a.Labels["instance"])
		out = append(out, &model.Alert{Source: "alertmanager", Format: "alertmanager", Rule: a.Labels["alertname"],
			Title: a.Labels["alertname"], Severity: sev, Category: model.CategoryOther, EventTime: a.StartsAt,
			ReceivedAt: at, Entities: []model.Entity{{Kind: model.EntityIP, Value: host, Role: model.RoleDst}},
			Labels: a.Labels, Fingerprint: a.Fingerprint + a.StartsAt.String()})
	}
	return out
}
