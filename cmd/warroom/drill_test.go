package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/drill"
	"github.com/warroom/warroom/store"
)

func TestDrillList(t *testing.T) {
	var out bytes.Buffer
	if err := drillList([]string{"--config", "../../config.example.yaml"}, &out, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ssh-rdp-bruteforce", "routing-loop-bgp-flap", "dns-tunnelling", "weekly-bruteforce",
		"Europe/Berlin", "2026-12-01T09:00:00Z"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("drill list lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDrillReportFormats(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	db := filepath.Join(t.TempDir(), "warroom.db")
	st, err := store.OpenSQLite(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := now.Add(-48 * time.Hour)
	ttr := 900.0
	m, _ := json.Marshal(drill.Measures{Incident: "INC-0001", OpenedAt: start, TTR: &ttr})
	err = st.Submit(context.Background(), func(tx store.Tx) error {
		return tx.PutDrillRun(&store.DrillRun{ID: "drill-1", Scenario: "port-scan", Trigger: "cli", Status: store.DrillCompleted,
			StartedAt: &start, FinishedAt: &now, IncidentID: 1, Measures: m})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := drillReport([]string{"--db", db, "--since", "7d", "--format", "json"}, &out, now); err != nil {
		t.Fatal(err)
	}
	var rep drill.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Scenarios) != 1 || *rep.Scenarios[0].TTR.Median != 900 {
		t.Fatalf("json report %v: %s", err, out.String())
	}
	out.Reset()
	if err := drillReport([]string{"--db", db, "--since", "1d"}, &out, now); err != nil || strings.Contains(out.String(), "port-scan") {
		t.Errorf("a run outside --since is reported: %v\n%s", err, out.String())
	}
	png := filepath.Join(t.TempDir(), "ttr.png")
	out.Reset()
	if err := drillReport([]string{"--db", db, "--format", "png", "--out", png}, &out, now); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("png: %d bytes %v", len(b), err)
	}
	for args, want := range map[string]string{
		"--since 90x":  `--since "90x": write a period like 90d, 2w or 36h`,
		"--format pdf": `--format "pdf": want text, json, csv or png`,
		"--format png": "--format png writes an image: name the file with --out ttr.png",
	} {
		err := drillReport(append([]string{"--db", db}, strings.Fields(args)...), &out, now)
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v; want %s", args, err, want)
		}
	}
}

func TestDrillRunNeedsAServer(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"drill", "run", "--config", "../../config.example.yaml", "--server", "http://127.0.0.1:1", "port-scan"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "is warroom serve running?") {
		t.Errorf("drill run without a server: %v", err)
	}
	if err := run([]string{"drill", "frob"}, &out, &out); err == nil || !strings.Contains(err.Error(), "unknown drill command") {
		t.Errorf("unknown subcommand: %v", err)
	}
}
