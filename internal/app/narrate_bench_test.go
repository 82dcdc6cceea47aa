package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/narrate/openaitest"
)

// BenchmarkOpeningSync measures what a narrative adds to the incident path: the
// time of the bot's sync that queues a new incident's opening message, with the
// template only and with a model configured (the fake answering at once). The model's
// narrative is written in the background; ready-ms reports when it was stored,
// after the opening message.
func BenchmarkOpeningSync(b *testing.B) {
	for _, withAI := range []bool{false, true} {
		name := "template"
		if withAI {
			name = "ai-instant-fake"
		}
		b.Run(name, func(b *testing.B) {
			cfg, err := config.Load("../../config.example.yaml")
			if err != nil {
				b.Fatal(err)
			}
			cfg.Database = filepath.Join(b.TempDir(), "warroom.db")
			cfg.LogLevel = "error"
			cfg.GenerateMissingSecrets = false
			if withAI {
				srv := openaitest.New(b, aiKey, aiModel)
				keyFile := filepath.Join(b.TempDir(), "key")
				if err := os.WriteFile(keyFile, []byte(aiKey), 0o600); err != nil {
					b.Fatal(err)
				}
				cfg.AI = config.AI{Enabled: true, BaseURL: srv.BaseURL(), Model: aiModel, APIKeyFile: keyFile,
					Redact: config.RedactAlways, MinInterval: config.Duration(time.Hour), HourlyTokenBudget: 1 << 30}
			}
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			env := map[string]string{"WARROOM_INGEST_TOKEN": "i", "WARROOM_API_TOKEN": "a"}
			a, err := app.New(context.Background(), cfg, app.Options{Clock: clock.Real{}, Getenv: func(k string) string { return env[k] },
				Log: app.NewLogger("error")})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			ctx := context.Background()
			t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
			var ready time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				src := fmt.Sprintf("198.18.%d.%d", i/250%250, i%250+1)
				res, err := a.Pipeline.Ingest(ctx, []*model.Alert{{Source: "generic", Format: "generic", Rule: "ssh-bruteforce",
					Title: "SSH brute force from " + src, Severity: model.SeverityHigh, Category: model.CategoryBruteforce,
					EventTime: t0.Add(time.Duration(i) * time.Second), ReceivedAt: t0,
					Fingerprint: "bench-" + src, Entities: []model.Entity{{Kind: model.EntityIP, Value: src, Role: model.RoleSrc},
						{Kind: model.EntityIP, Value: "10.9.0.1", Role: model.RoleDst}}}})
				if err != nil {
					b.Fatal(err)
				}
				al, err := a.Store.Alert(ctx, res.IDs[0])
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				b.StartTimer()
				if _, err := a.Bot.Sync(ctx, al.IncidentID); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if withAI {
					for {
						if _, err := a.Store.Narrative(ctx, al.IncidentID); err == nil {
							break
						} else if !errors.Is(err, store.ErrNotFound) {
							b.Fatal(err)
						}
						if time.Since(start) > 10*time.Second {
							b.Fatal("no narrative")
						}
						time.Sleep(200 * time.Microsecond)
					}
					ready += time.Since(start)
				}
				b.StartTimer()
			}
			if withAI {
				b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ready-ms")
			}
		})
	}
}
