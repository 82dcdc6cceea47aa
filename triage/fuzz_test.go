package triage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

func FuzzParseIgnore(f *testing.F) {
	f.Add("10.0.0.0/8\n2001:db8::/32\nresolver1\n192.0.2.53")
	f.Add("::ffff:10.0.0.1\nhost:proxy.corp\n\n10.0.0.300/24")
	f.Fuzz(func(t *testing.T, s string) {
		list := strings.Split(s, "\n")
		cidrs, vals, err := ParseIgnore(list)
		for _, p := range cidrs {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("prefix %v not valid and masked", p)
			}
		}
		for _, v := range vals {
			if strings.TrimSpace(v) == "" || strings.Contains(v, "/") {
				t.Fatalf("value %q kept", v)
			}
		}
		if err == nil && len(cidrs)+len(vals) != len(list) {
			t.Fatalf("%d items, %d kept, no error", len(list), len(cidrs)+len(vals))
		}
		if err == nil {
			cfg := DefaultConfig()
			cfg.IgnoreCIDRs, cfg.IgnoreEntities = cidrs, vals
			if err := cfg.Validate(); err != nil {
				t.Fatalf("parsed list does not validate: %v", err)
			}
		}
	})
}

// FuzzEngine drives the engine with arbitrary alerts, ops, status changes and
// rollbacks, checking that every alert lands in a live incident, that counts add up,
// and that a rolled-back op leaves the state exactly as it was.
func FuzzEngine(f *testing.F) {
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14"))
	f.Add([]byte("\xff\x00\xff\x00\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.MaxPeers = 3
		cfg.DedupCap = 8
		r := newEngineRun(t, cfg)
		pool := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "198.51.100.7"}
		cats := model.Categories
		kept := 0
		for len(data) >= 5 {
			b := data[:5]
			data = data[5:]
			n := 1 + int(b[0]%4)
			rollback := b[0]&0x80 != 0
			wall := t0.Add(time.Duration(b[4]) * 4 * time.Minute)
			before := ""
			if rollback {
				before = dump(r.e)
			}
			m := r.e.Begin(wall)
			var batch []*model.Alert
			for i := range n {
				x := int(b[1]) + i*int(b[2]) + int(b[3])*i*i
				ents := []model.Entity{src(pool[x%len(pool)])}
				if x%5 != 0 {
					ents = append(ents, dst(pool[(x/8)%len(pool)]))
				}
				if x%7 == 0 {
					ents = append(ents, model.Entity{Kind: model.EntityCommunityID, Value: fmt.Sprint(x % 3), Role: model.RoleObserver})
				}
				a := mk(t0.Add(time.Duration(x%90)*time.Minute), model.Severity(1+x%5), cats[x%len(cats)], "rule", ents...)
				if x%11 == 0 {
					a.Fingerprint = "same"
				}
				if _, dup := r.e.IsDuplicate(a.Fingerprint); dup {
					continue
				}
				r.nextAlert++
				a.ID = r.nextAlert
				r.e.Add(a, func() int64 { r.nextInc++; return r.nextInc })
				batch = append(batch, a)
			}
			for _, a := range batch {
				if _, live := r.e.live[r.e.Final(a.IncidentID)]; !live {
					t.Fatalf("alert %d in incident %d, which is not live", a.ID, r.e.Final(a.IncidentID))
				}
			}
			if b[3]%5 == 0 {
				for id := range r.e.live {
					if _, _, err := r.e.SetStatus(id, model.StatusResolved, wall); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
			r.e.Changes()
			if rollback {
				r.e.Rollback(m)
				if after := dump(r.e); after != before {
					t.Fatalf("rollback left a trace:\n%s", diffLines(before, after))
				}
				continue
			}
			r.e.Release(m)
			kept += len(batch)
		}
		total := 0
		for _, inc := range r.e.live {
			total += inc.m.AlertCount
			if !inc.m.Status.Live() {
				t.Fatalf("incident %d is %s but in the live set", inc.m.ID, inc.m.Status)
			}
		}
		// Resolved incidents leave the live set with their alerts.
		if total > kept {
			t.Fatalf("live incidents count %d alerts, %d were added", total, kept)
		}
	})
}
