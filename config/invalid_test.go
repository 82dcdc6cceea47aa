package config

import (
	"os"
	"path/filepath"
	"testing"
)

// sourcesBase is the smallest valid sources section, for test documents that are
// about something else.
const sourcesBase = "sources:\n  - {name: s, format: generic, token_env: T}\n"

// checkInvalid parses every file of dir, made into a whole document by doc, and checks
// each fails with exactly its expected error: every file needs an expectation and
// every expectation a file. It returns the errors by file name for further checks.
func checkInvalid(t *testing.T, dir string, want map[string]string, doc func([]byte) []byte) map[string]error {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d files in %s, %d expected errors", len(files), dir, len(want))
	}
	got := map[string]error{}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: no expected error", name)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(doc(b))
		if err == nil || err.Error() != w {
			t.Errorf("%s:\n got %v\nwant %s", name, err, w)
		}
		got[name] = err
	}
	return got
}
