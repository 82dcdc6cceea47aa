package main

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
)

func TestFlagsFirst(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("ttl", "", "")
	fs.Bool("dry-run", false, "")
	got := flagsFirst(fs, []string{"INC-1", "block_ip", "203.0.113.7", "--ttl", "2h", "--dry-run", "--config=c.yaml", "--server", "http://x"}, "config", "server")
	want := []string{"--ttl", "2h", "--dry-run", "--config=c.yaml", "--server", "http://x", "--", "INC-1", "block_ip", "203.0.113.7"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flagsFirst:\n got %q\nwant %q", got, want)
	}
}

// TestActionsCommand drives `warroom actions` against a running server: propose,
// list, refuse, approve as admin, show, revert.
func TestActionsCommand(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	doc := strings.Replace(string(example), "generate_missing_secrets: true", "generate_missing_secrets: false", 1)
	doc = strings.Replace(doc, "database: warroom.db", "database: "+filepath.Join(dir, "warroom.db"), 1)
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WARROOM_API_TOKEN", "cli-admin-token")
	t.Setenv("WARROOM_INGEST_TOKEN", "cli-ingest-token")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogLevel = "error"
	a, err := app.New(context.Background(), cfg, app.Options{Log: app.NewLogger("error")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.API.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	alerts := filepath.Join(dir, "alerts.json")
	if err := os.WriteFile(alerts, []byte(`{"rule":"ssh-bruteforce","title":"SSH brute force","severity":"high","category":"bruteforce","event_time":"2026-11-20T09:00:00Z","src_ip":"203.0.113.7","dest_ip":"198.51.100.10"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(append(args, "--config", cfgPath, "--server", srv.URL), &out, &errb)
		return out.String(), err
	}
	var sent bytes.Buffer
	if err := run([]string{"alert", "send", "--source", "generic", "--config", cfgPath, "--server", srv.URL, alerts}, &sent, &sent); err != nil || !strings.Contains(sent.String(), "accepted 1") {
		t.Fatalf("alert send: %q %v", sent.String(), err)
	}
	out, err := cli("actions", "propose", "INC-0001", "block_ip", "203.0.113.7", "--ttl", "2h", "--note", "from the CLI")
	if err != nil || !strings.Contains(out, "action 1 on INC-0001: block_ip 203.0.113.7/32 via edl, ttl 2h") ||
		!strings.Contains(out, "note: from the CLI") || !strings.Contains(out, "change: add 203.0.113.7/32 to EDL warroom-block, timeout 2h") {
		t.Fatalf("propose: %q %v", out, err)
	}
	out, err = cli("actions", "list", "INC-0001")
	if err != nil || !strings.Contains(out, "1   proposed  block_ip  203.0.113.7/32  edl        2h   admin") {
		t.Fatalf("list: %q %v", out, err)
	}
	// The admin requested it: the two-person rule refuses their approval.
	if _, err := cli("actions", "approve", "1"); err == nil || !strings.Contains(err.Error(), "403: refused by two_person") {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := cli("actions", "propose", "INC-0001", "block_ip", "10.0.0.1"); err == nil || !strings.Contains(err.Error(), "422: refused by never_block") {
		t.Fatalf("never-block: %v", err)
	}
	out, err = cli("actions", "show", "1")
	if err != nil || !strings.Contains(out, "would change now:\n  add 203.0.113.7/32 to EDL warroom-block, timeout 2h") {
		t.Fatalf("show: %q %v", out, err)
	}
	if out, err := cli("actions", "reject", "1", "--reason", "duplicate"); err != nil || !strings.Contains(out, "state rejected") {
		t.Fatalf("reject: %q %v", out, err)
	}
	if _, err := cli("actions", "execute", "1"); err == nil || !strings.Contains(err.Error(), "409: action 1 is rejected") {
		t.Fatalf("execute a rejected action: %v", err)
	}
	if _, err := cli("actions", "approve", "x"); err == nil || !strings.Contains(err.Error(), `action id "x"`) {
		t.Fatalf("bad id: %v", err)
	}
	var check bytes.Buffer
	if err := run([]string{"check", "--config", cfgPath}, &check, &check); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(check.String(), "edl        edl   block_ip,unblock_ip  yes        n/a            yes") ||
		!strings.Contains(check.String(), "playbooks: 8 loaded") {
		t.Fatalf("check:\n%s", check.String())
	}
}
