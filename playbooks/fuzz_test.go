package playbooks

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary documents to the playbook parser. It must never panic,
// and a document it accepts must match and propose without panicking.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"builtin/*.yaml", "testdata/invalid/*.yaml", "testdata/user/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	eng, err := newEngine(Options{}.withDefaults())
	if err != nil {
		f.Fatal(err)
	}
	scenarios := []scenario{bruteforce(), c2(), routing()}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := eng.parse("fuzz.yaml", b)
		if err != nil {
			if p != nil {
				t.Fatal("a playbook and an error")
			}
			return
		}
		if p.ID == "" || p.Title == "" || p.match == nil || len(p.Checklist) == 0 {
			t.Fatalf("accepted an incomplete playbook: %+v", p)
		}
		for _, sc := range scenarios {
			_, _ = p.Matches(sc.inc, sc.alerts)
			for _, pr := range p.Propose(sc.inc, sc.alerts) {
				if pr.Target == "" || pr.Connector == "" {
					t.Fatalf("proposal without target or connector: %+v", pr)
				}
				if (pr.Kind == KindBlockIP || pr.Kind == KindIsolateHost) && pr.TTL <= 0 {
					t.Fatalf("%s proposal without TTL: %+v", pr.Kind, pr)
				}
			}
		}
	})
}
