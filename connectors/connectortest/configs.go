package connectortest

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// RunInvalidConfigs checks a connector's invalid configurations: every file in
// testdata/invalid/*.yaml must be refused by parse with exactly the error want
// holds for its name, the table and the folder must list the same files, and no
// error may repeat any of secrets.
func RunInvalidConfigs(t *testing.T, want map[string]string, parse func(raw []byte) error, secrets ...string) {
	t.Helper()
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	wantNames := slices.Sorted(maps.Keys(want))
	if strings.Join(names, ",") != strings.Join(wantNames, ",") {
		t.Fatalf("testdata/invalid holds %v, the table covers %v: keep them in step", names, wantNames)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/invalid", name))
			if err != nil {
				t.Fatal(err)
			}
			err = parse(raw)
			if err == nil || err.Error() != want[name] {
				t.Fatalf("ParseConfig error\n got: %v\nwant: %s", err, want[name])
			}
			for _, leak := range secrets {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error repeats a secret: %v", err)
				}
			}
		})
	}
}
