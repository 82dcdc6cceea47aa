package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckExampleConfig(t *testing.T) {
	var out, errb bytes.Buffer
	t.Setenv("WARROOM_INGEST_TOKEN", "")
	t.Setenv("WARROOM_API_TOKEN", "set-for-test")
	if err := run([]string{"check", "--config", "../../config.example.yaml"}, &out, &errb); err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, want := range []string{"configuration OK", "suricata", "POST /api/v1/ingest/alertmanager",
		"$WARROOM_INGEST_TOKEN unset: generated at first start", "$WARROOM_API_TOKEN set"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "set-for-test") {
		t.Error("check printed a secret")
	}
}

func TestCheckInvalidConfigFails(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(f, []byte("listen: nowhere\nsources:\n  - {name: s, format: generic, token_env: T}\n"), 0o600)
	var out, errb bytes.Buffer
	err := run([]string{"check", "--config", f}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `listen: "nowhere" is not an address:port`) {
		t.Fatalf("check of an invalid file: %v", err)
	}
}

func TestUnknownCommandAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"frobnicate"}, &out, &errb); err == nil || !strings.Contains(errb.String(), "Usage:") {
		t.Errorf("unknown command: %v, usage shown %v", err, strings.Contains(errb.String(), "Usage:"))
	}
	out.Reset()
	if err := run([]string{"version"}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "warroom dev") {
		t.Errorf("version: %q %v", out.String(), err)
	}
}
