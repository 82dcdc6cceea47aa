package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/scenario"
)

// groupingRun posts a labelled corpus through the HTTP ingest endpoints in arrival
// order, reads every alert's incident back through the API and checks the grouping:
// pairwise F1 ≥ 0.95, each campaign in exactly one incident, no notifiable incident
// made only of noise, and notifiable incidents between the number of campaigns and
// 1.5 times it.
func groupingRun(t *testing.T, eve [][]byte, eveLabels []string, am [][]byte, amLabels [][]string, order []scenario.Delivery) {
	t.Helper()
	s := newServer(t)
	ctx := context.Background()
	ids := make([]int64, len(eve))
	amIDs := make([][]int64, len(am))
	var batch []int
	flush := func() {
		if len(batch) == 0 {
			return
		}
		var b bytes.Buffer
		for _, i := range batch {
			b.Write(eve[i])
			b.WriteByte('\n')
		}
		r, err := s.C.Ingest(ctx, "suricata", "application/x-ndjson", b.Bytes())
		if err != nil || len(r.AlertIDs) != len(batch) {
			t.Fatalf("ingest of %d lines: %v %+v", len(batch), err, r)
		}
		for k, i := range batch {
			ids[i] = r.AlertIDs[k]
		}
		batch = batch[:0]
	}
	for _, d := range order {
		if !d.AM {
			batch = append(batch, d.I)
			if len(batch) == 50 {
				flush()
			}
			continue
		}
		flush()
		r, err := s.C.Ingest(ctx, "alertmanager", "application/json", am[d.I])
		if err != nil || len(r.AlertIDs) != len(amLabels[d.I]) {
			t.Fatalf("alertmanager payload %d: %v %+v", d.I, err, r)
		}
		amIDs[d.I] = r.AlertIDs
	}
	flush()

	incidentOf := func(id int64) string {
		a, err := s.C.Alert(ctx, id)
		if err != nil {
			t.Fatalf("alert %d: %v", id, err)
		}
		if a.IncidentID == nil {
			return fmt.Sprintf("none-%d", id)
		}
		return fmt.Sprint(*a.IncidentID)
	}
	truth := append([]string(nil), eveLabels...)
	var pred []string
	for _, id := range ids {
		pred = append(pred, incidentOf(id))
	}
	for i, g := range amIDs {
		truth = append(truth, amLabels[i]...)
		for _, id := range g {
			pred = append(pred, incidentOf(id))
		}
	}
	p, r, f1 := scenario.PairwiseF1(truth, pred)
	t.Logf("precision %.3f recall %.3f F1 %.3f over %d alerts", p, r, f1, len(truth))
	if f1 < 0.95 {
		t.Errorf("F1 %.3f < 0.95", f1)
	}
	campaignIncidents := map[string]map[string]bool{}
	noiseOnly := map[string]bool{}
	for i, l := range truth {
		if strings.HasPrefix(l, "noise") {
			if _, ok := noiseOnly[pred[i]]; !ok {
				noiseOnly[pred[i]] = true
			}
			continue
		}
		noiseOnly[pred[i]] = false
		if campaignIncidents[l] == nil {
			campaignIncidents[l] = map[string]bool{}
		}
		campaignIncidents[l][pred[i]] = true
	}
	for c, incs := range campaignIncidents {
		if len(incs) != 1 {
			t.Errorf("campaign %s spread over %d incidents", c, len(incs))
		}
	}
	notifiable := 0
	q := url.Values{"limit": {"500"}}
	for range 100 {
		l, err := s.C.Incidents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range l.Items {
			if !in.Notifiable {
				continue
			}
			notifiable++
			if noiseOnly[fmt.Sprint(in.ID)] {
				t.Errorf("%s (%s) is notifiable but holds only noise", in.Number, in.Title)
			}
		}
		if l.Next == "" {
			break
		}
		q.Set("cursor", l.Next)
	}
	n := len(campaignIncidents)
	if notifiable < n || float64(notifiable) > 1.5*float64(n) {
		t.Errorf("%d notifiable incidents for %d campaigns; want between %d and %.0f", notifiable, n, n, 1.5*float64(n))
	}
}

func TestGroupingOfGeneratedScenarios(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			c := scenario.Generate(seed, scenario.Options{})
			groupingRun(t, c.EVE, c.EVELabels, c.AM, c.AMLabels, c.Deliveries)
		})
	}
}

func TestGroupingOfSharedCorpus(t *testing.T) {
	const dir = "../../../shared/corpus/dev"
	raw, err := os.ReadFile(dir + "/suricata.ndjson")
	if err != nil {
		t.Skipf("shared corpus not present (%v); the generated scenarios still run", err)
	}
	var labels struct {
		Suricata []string `json:"suricata"`
	}
	lb, err := os.ReadFile(dir + "/labels.json")
	if err != nil || json.Unmarshal(lb, &labels) != nil {
		t.Fatalf("labels: %v", err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	if len(lines) != len(labels.Suricata) {
		t.Fatalf("%d lines, %d labels", len(lines), len(labels.Suricata))
	}
	order := make([]scenario.Delivery, len(lines))
	for i := range order {
		order[i] = scenario.Delivery{I: i}
	}
	groupingRun(t, lines, labels.Suricata, nil, nil, order)
}
