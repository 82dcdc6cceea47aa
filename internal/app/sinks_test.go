package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/sinks/sinktest"
)

// TestSinkBacklogIsAMetric: events waiting for a sink that is not delivering show in
// /metrics, per sink, as many as the queue holds.
func TestSinkBacklogIsAMetric(t *testing.T) {
	s := newServer(t, func(c *config.Config) {
		sc, err := sinks.ParseConfig([]byte("outputs:\n  - name: siem-syslog\n    type: syslog\n    address: 127.0.0.1:9\n    network: tcp\n"))
		if err != nil {
			t.Fatal(err)
		}
		c.Sinks = sc
	})
	// The dispatcher is not started: every event stays queued.
	if code, m := s.post(t, "/api/v1/ingest/alertmanager", testIngest, "application/json", []byte(amBody)); code != 202 {
		t.Fatal(code, m)
	}
	n, err := s.App.Store.CountSinkEvents(context.Background(), "siem-syslog")
	if err != nil || n == 0 {
		t.Fatalf("queued events: %d %v", n, err)
	}
	_, body := s.get(t, "/metrics", "")
	if want := fmt.Sprintf("warroom_sink_queue_events{sink=%q} %d\n", "siem-syslog", n); !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestSIEMReceivesIncidentChanges configures a Splunk HEC sink against the strict fake
// collector and checks that the incident's opening and its acknowledgement arrive as
// HEC events, with the actor, in order.
func TestSIEMReceivesIncidentChanges(t *testing.T) {
	hec := sinktest.NewHEC(t, "hec-secret-token")
	tokFile := filepath.Join(t.TempDir(), "hec")
	os.WriteFile(tokFile, []byte("hec-secret-token\n"), 0o600)
	s := newServer(t, func(c *config.Config) {
		sc, err := sinks.ParseConfig([]byte(fmt.Sprintf("outputs:\n  - name: splunk\n    type: splunk\n    url: %s\n    token_file: %s\n", hec.URL(), tokFile)))
		if err != nil {
			t.Fatal(err)
		}
		c.Sinks = sc
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer s.App.StartSinks(ctx)()
	defer cancel()

	code, m := s.post(t, "/api/v1/ingest/alertmanager", testIngest, "application/json", []byte(amBody))
	if code != 202 {
		t.Fatal(code, m)
	}
	a, err := s.C.Alert(ctx, int64(m["alert_ids"].([]any)[0].(float64)))
	if err != nil || a.IncidentID == nil {
		t.Fatalf("alert: %v", err)
	}
	if _, err := s.C.SetStatus(ctx, fmt.Sprint(*a.IncidentID), api.StatusRequest{Action: "acknowledge", Note: "on it"}); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := hec.Wait(wctx, 2); err != nil {
		t.Fatalf("HEC got %d events: %v", len(hec.Events()), err)
	}
	var types []string
	for _, ev := range hec.Events() {
		var e sinks.Event
		if err := json.Unmarshal(ev.Event, &e); err != nil {
			t.Fatalf("event body: %v", err)
		}
		types = append(types, string(e.Type)+"/"+e.Actor+"/"+e.Incident)
	}
	want0 := "incident.open/warroom/INC-0001"
	want1 := "incident.status/admin/INC-0001"
	if len(types) < 2 || types[0] != want0 || types[1] != want1 {
		t.Errorf("HEC received %v; want %s then %s", types, want0, want1)
	}
}
