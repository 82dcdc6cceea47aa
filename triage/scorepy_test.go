package triage

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/warroom/warroom/triage/scenario"
)

// TestPairwiseF1AgreesWithScorePy scores one grouping with the Go port and with the
// shared corpus's score.py, on a generated corpus written in that corpus's layout.
func TestPairwiseF1AgreesWithScorePy(t *testing.T) {
	t.Parallel()
	script := filepath.Join("..", "..", "shared", "corpus", "score.py")
	if _, err := os.Stat(script); err != nil {
		t.Skipf("score.py not present (%v)", err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	c := scenario.Generate(21, scenario.Options{})
	dir := t.TempDir()
	if err := c.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	s := scenarioStream(t, c)
	// A deliberately imperfect grouping (no fan-out centres), so the score is not 1.
	cfg := DefaultConfig()
	cfg.FanRoles = nil
	r := newEngineRun(t, cfg)
	incs := r.run(s, 1)
	pred := struct {
		Suricata     []int64   `json:"suricata"`
		Alertmanager [][]int64 `json:"alertmanager"`
	}{make([]int64, len(c.EVE)), make([][]int64, len(c.AM))}
	for i := range c.AM {
		pred.Alertmanager[i] = make([]int64, len(c.AMLabels[i]))
	}
	for i, o := range s.origin {
		if o.am {
			pred.Alertmanager[o.i][o.k] = incs[i]
		} else {
			pred.Suricata[o.i] = incs[i]
		}
	}
	b, _ := json.Marshal(pred)
	pf := filepath.Join(dir, "pred.json")
	if err := os.WriteFile(pf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, dir, pf).CombinedOutput()
	if err != nil {
		t.Fatalf("score.py: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`precision ([0-9.]+) recall ([0-9.]+) F1 ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("score.py said:\n%s", out)
	}
	pyF1, _ := strconv.ParseFloat(string(m[3]), 64)
	_, _, goF1 := pairwiseF1(s.labels, groupKeys(incs))
	if fmt.Sprintf("%.3f", goF1) != fmt.Sprintf("%.3f", pyF1) || pyF1 >= 0.999 {
		t.Fatalf("Go F1 %.3f, score.py F1 %.3f", goF1, pyF1)
	}
}

func groupKeys(incs []int64) []string {
	out := make([]string, len(incs))
	for i, id := range incs {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out
}
