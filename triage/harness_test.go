package triage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/scenario"
)

// pairwiseF1 is score.py's scoring (see scenario.PairwiseF1).
func pairwiseF1(truth, pred []string) (p, r, f float64) { return scenario.PairwiseF1(truth, pred) }

// origin places an alert in a corpus: EVE line I, or alert K of Alertmanager payload I.
type origin struct {
	am   bool
	i, k int
}

// stream is a decoded, labelled alert stream in delivery order.
type stream struct {
	alerts []*model.Alert
	labels []string
	at     []time.Time // delivery (wall) time of each alert
	origin []origin    // where each alert sits in the corpus files
	// campaigns lists the campaign labels.
	campaigns []string
}

func decodeOne(t testing.TB, format string, body []byte, at time.Time) []*model.Alert {
	t.Helper()
	d, ok := ingest.Lookup(format)
	if !ok {
		t.Fatalf("no %s decoder registered", format)
	}
	items, err := d.Decode(body, ingest.Options{Source: format, Now: at})
	if err != nil {
		t.Fatalf("decode %s: %v", format, err)
	}
	var out []*model.Alert
	for i, it := range items {
		if it.Err != nil {
			t.Fatalf("decode %s item %d: %v", format, i, it.Err)
		}
		out = append(out, it.Alert)
	}
	return out
}

var streams sync.Map // "seed opts" -> *stream

// corpus generates and decodes a scenario once per test binary; each caller gets its
// own copy of the alerts (correlation sets their ids).
func corpus(t testing.TB, seed uint64, opts scenario.Options) *stream {
	t.Helper()
	key := fmt.Sprint(seed, opts)
	v, ok := streams.Load(key)
	if !ok {
		v, _ = streams.LoadOrStore(key, scenarioStream(t, scenario.Generate(seed, opts)))
	}
	s := *v.(*stream)
	s.alerts = cloneAlerts(s.alerts)
	return &s
}

// scenarioStream decodes a generated corpus with the real decoders, in delivery order.
func scenarioStream(t testing.TB, c *scenario.Corpus) *stream {
	t.Helper()
	s := &stream{campaigns: c.Campaigns}
	for _, d := range c.Deliveries {
		if d.AM {
			as := decodeAM(t, c.AM[d.I], d.At)
			if len(as) != len(c.AMLabels[d.I]) {
				t.Fatalf("payload %d: %d alerts decoded, %d labelled", d.I, len(as), len(c.AMLabels[d.I]))
			}
			for k, a := range as {
				s.alerts = append(s.alerts, a)
				s.labels = append(s.labels, c.AMLabels[d.I][k])
				s.at = append(s.at, d.At)
				s.origin = append(s.origin, origin{am: true, i: d.I, k: k})
			}
			continue
		}
		as := decodeOne(t, "suricata", c.EVE[d.I], d.At)
		if len(as) != 1 {
			t.Fatalf("EVE line %d: %d alerts", d.I, len(as))
		}
		s.alerts = append(s.alerts, as[0])
		s.labels = append(s.labels, c.EVELabels[d.I])
		s.at = append(s.at, d.At)
		s.origin = append(s.origin, origin{i: d.I})
	}
	return s
}

// devStream reads the shared dev corpus, or skips when it is absent.
func devStream(t testing.TB) *stream {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus", "dev")
	raw, err := os.ReadFile(filepath.Join(dir, "suricata.ndjson"))
	if err != nil {
		t.Skipf("shared dev corpus not present (%v): skipping the dev-corpus check", err)
	}
	lb, err := os.ReadFile(filepath.Join(dir, "labels.json"))
	if err != nil {
		t.Skipf("shared dev corpus labels not present (%v)", err)
	}
	var labels scenario.Labels
	if err := json.Unmarshal(lb, &labels); err != nil {
		t.Fatalf("labels.json: %v", err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	if len(lines) != len(labels.Suricata) {
		t.Fatalf("dev corpus: %d lines, %d labels", len(lines), len(labels.Suricata))
	}
	s := &stream{}
	camp := map[string]bool{}
	for i, l := range lines {
		var ts struct {
			Timestamp string `json:"timestamp"`
		}
		_ = json.Unmarshal(l, &ts)
		at, err := time.Parse(scenario.EVETimeLayout, ts.Timestamp)
		if err != nil {
			t.Fatalf("dev corpus line %d: timestamp: %v", i+1, err)
		}
		as := decodeOne(t, "suricata", l, at)
		s.alerts = append(s.alerts, as[0])
		s.labels = append(s.labels, labels.Suricata[i])
		s.at = append(s.at, at)
		if !strings.HasPrefix(labels.Suricata[i], "noise") {
			camp[labels.Suricata[i]] = true
		}
	}
	for c := range camp {
		s.campaigns = append(s.campaigns, c)
	}
	sort.Strings(s.campaigns)
	return s
}

// groupingReport checks a grouping (incident id per alert) against the labels: F1, each
// campaign in exactly one incident, no notifiable incident of noise alone, and the
// number of notifiable incidents. notifiable says whether an incident id is notifiable.
type groupingReport struct {
	p, r, f         float64
	split           []string // campaigns spread over several incidents
	noiseNotifiable []int64
	notifiable      int
	perCampaign     map[string]string
}

func checkGrouping(labels []string, incs []int64, notifiable map[int64]bool) groupingReport {
	pred := make([]string, len(incs))
	for i, id := range incs {
		if id == 0 {
			pred[i] = fmt.Sprintf("none-%d", i)
		} else {
			pred[i] = fmt.Sprint(id)
		}
	}
	var rep groupingReport
	rep.p, rep.r, rep.f = pairwiseF1(labels, pred)
	per := map[string]map[int64]int{}
	campaignOf := map[int64]bool{}
	for i, l := range labels {
		if strings.HasPrefix(l, "noise") {
			continue
		}
		if per[l] == nil {
			per[l] = map[int64]int{}
		}
		per[l][incs[i]]++
		campaignOf[incs[i]] = true
	}
	rep.perCampaign = map[string]string{}
	for l, m := range per {
		if len(m) > 1 {
			rep.split = append(rep.split, l)
		}
		rep.perCampaign[l] = fmt.Sprint(m)
	}
	sort.Strings(rep.split)
	for id, n := range notifiable {
		if !n {
			continue
		}
		rep.notifiable++
		if !campaignOf[id] {
			rep.noiseNotifiable = append(rep.noiseNotifiable, id)
		}
	}
	return rep
}

func (rep groupingReport) check(t *testing.T, name string, campaigns int) {
	t.Helper()
	t.Logf("%s: precision %.3f recall %.3f F1 %.3f; %d notifiable incidents for %d campaigns",
		name, rep.p, rep.r, rep.f, rep.notifiable, campaigns)
	if rep.f < 0.95 {
		t.Errorf("%s: F1 %.3f, want >= 0.95 (precision %.3f recall %.3f)", name, rep.f, rep.p, rep.r)
	}
	if len(rep.split) > 0 {
		for _, l := range rep.split {
			t.Errorf("%s: campaign %s spread over incidents %s", name, l, rep.perCampaign[l])
		}
	}
	if len(rep.noiseNotifiable) > 0 {
		t.Errorf("%s: notifiable incidents made only of noise: %v", name, rep.noiseNotifiable)
	}
	if rep.notifiable < campaigns || float64(rep.notifiable) > 1.5*float64(campaigns) {
		t.Errorf("%s: %d notifiable incidents, want between %d and %.0f", name, rep.notifiable, campaigns, 1.5*float64(campaigns))
	}
}

// decodeAM decodes an Alertmanager webhook payload with the real decoder.
func decodeAM(t testing.TB, body []byte, at time.Time) []*model.Alert {
	t.Helper()
	return decodeOne(t, "alertmanager", body, at)
}
