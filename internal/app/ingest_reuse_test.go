package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// TestIngestReusedMemoryKeepsEveryAlertIntact: the receiver decodes into memory it
// reuses from request to request (ingest.Scratch), and alerts' raw JSON points into
// the pooled request body. Every alert read back after many concurrent requests of
// different sizes and formats must still hold exactly what was sent for it.
func TestIngestReusedMemoryKeepsEveryAlertIntact(t *testing.T) {
	s := newServer(t)
	type sent struct {
		raw    string
		rule   string
		labels map[string]string
	}
	var (
		mu   sync.Mutex
		want = map[int64]sent{}
		wg   sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for r := range 12 {
				n := 1 + (w*7+r*5)%30
				var body bytes.Buffer
				var items []sent
				format := "generic"
				if (w+r)%2 == 1 {
					format = "suricata"
				}
				if format == "generic" {
					body.WriteByte('[')
				}
				for i := range n {
					tag := fmt.Sprintf("w%dr%di%d", w, r, i)
					var item string
					var it sent
					if format == "generic" {
						// Some alerts carry labels and some none, so a reused labels map
						// must come back empty for the ones without.
						labels := map[string]string{}
						if i%3 != 0 {
							labels = map[string]string{"tag": tag, "pad": string(bytes.Repeat([]byte{'x'}, i*13))}
						}
						lj, _ := json.Marshal(labels)
						item = fmt.Sprintf(`{"rule":"rule-%s","severity":"low","event_time":"2026-11-20T09:%02d:%02dZ","entities":[{"kind":"ip","value":"198.51.100.%d","role":"src"}],"labels":%s}`,
							tag, r, i, 1+w*30+i, lj)
						if len(labels) == 0 {
							labels = nil
						}
						it = sent{raw: item, rule: "rule-" + tag, labels: labels}
						if i > 0 {
							body.WriteByte(',')
						}
					} else {
						item = fmt.Sprintf(`{"timestamp":"2026-11-20T09:%02d:%02d.000000+0000","flow_id":%d,"event_type":"alert","src_ip":"203.0.113.%d","src_port":4%03d,"dest_ip":"192.0.2.%d","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":%d,"rev":1,"signature":"sig-%s","category":"Attempted Administrator Privilege Gain","severity":2}}`,
							r, i, w*1000+r*100+i, 1+w*30+i, i, 2+i, 9000000+w*1000+r*100+i, tag)
						it = sent{raw: item, rule: "sig-" + tag, labels: map[string]string{"proto": "TCP", "dest_port": "22",
							"action": "allowed", "class": "Attempted Administrator Privilege Gain"}}
					}
					body.WriteString(item)
					if format == "suricata" {
						body.WriteByte('\n')
					}
					items = append(items, it)
				}
				if format == "generic" {
					body.WriteByte(']')
				}
				ctype := "application/json"
				if format == "suricata" {
					ctype = "application/x-ndjson"
				}
				code, m := s.post(t, "/api/v1/ingest/"+format, testIngest, ctype, body.Bytes())
				if code != 202 {
					t.Errorf("%s request of %d: %d %v", format, n, code, m)
					return
				}
				ids, _ := m["alert_ids"].([]any)
				if len(ids) != n {
					t.Errorf("%s request of %d: %d ids", format, n, len(ids))
					return
				}
				mu.Lock()
				for i, id := range ids {
					want[int64(id.(float64))] = items[i]
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(want) == 0 {
		t.Fatal("no alert accepted")
	}
	for id, w := range want {
		code, b := s.get(t, "/api/v1/alerts/"+strconv.FormatInt(id, 10), testAPI)
		if code != 200 {
			t.Fatalf("alert %d: %d %s", id, code, b)
		}
		var got struct {
			Rule   string            `json:"rule"`
			Labels map[string]string `json:"labels"`
			Raw    json.RawMessage   `json:"raw"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if string(got.Raw) != w.raw {
			t.Errorf("alert %d raw:\n got %s\nwant %s", id, got.Raw, w.raw)
		}
		if got.Rule != w.rule {
			t.Errorf("alert %d rule %q, want %q", id, got.Rule, w.rule)
		}
		if fmt.Sprint(got.Labels) != fmt.Sprint(w.labels) {
			t.Errorf("alert %d labels %v, want %v", id, got.Labels, w.labels)
		}
	}
}
