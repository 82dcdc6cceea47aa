package triage

import (
	"fmt"
	"testing"

	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/scenario"
)

func TestEngineF1DevCorpus(t *testing.T) {
	t.Parallel()
	s := devStream(t)
	r := newEngineRun(t, DefaultConfig())
	rep := checkGrouping(s.labels, r.run(s, 1), r.notifiable)
	rep.check(t, "dev corpus", len(s.campaigns))
}

func TestEngineF1Scenario(t *testing.T) {
	t.Parallel()
	resolverCIDRs, resolverVals, err := ParseIgnore(scenario.Resolvers)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		seeds  []uint64
		opts   scenario.Options
		batch  int
		ignore bool
	}{
		{"default", []uint64{1, 2, 3, 4, 5, 6}, scenario.Options{}, 1, false},
		{"batches of 100", []uint64{7, 8}, scenario.Options{}, 100, false},
		{"dense noise, 20% late", []uint64{9, 10}, scenario.Options{Noise: 3000, Late: 0.2}, 1, false},
		// With this little traffic no automatic guard can tell the resolver from a C2
		// server: the configured ignore list is what keeps campaigns apart.
		{"sparse noise, resolvers ignored", []uint64{11, 12}, scenario.Options{Noise: 300}, 7, true},
	} {
		for _, seed := range tc.seeds {
			s := corpus(t, seed, tc.opts)
			cfg := DefaultConfig()
			if tc.ignore {
				cfg.IgnoreCIDRs, cfg.IgnoreEntities = resolverCIDRs, resolverVals
			}
			r := newEngineRun(t, cfg)
			rep := checkGrouping(s.labels, r.run(s, tc.batch), r.notifiable)
			rep.check(t, fmt.Sprintf("%s, seed %d", tc.name, seed), len(s.campaigns))
		}
	}
}

// TestScenarioNeedsEveryGuard shows the generated corpus exercises each mechanism:
// without it, grouping or notification fails.
func TestScenarioNeedsEveryGuard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		bad  func(groupingReport) bool
	}{
		{"no fan-out centres: the scan and the flood split", func(c *Config) { c.FanRoles = nil },
			func(r groupingReport) bool { return len(r.split) > 0 }},
		{"no peer guard: kill chains glue through the resolver", func(c *Config) { c.MaxPeers = 1 << 30 },
			func(r groupingReport) bool { return r.f < 0.95 }},
		{"dst pivots at any severity: noise incidents become notifiable", func(c *Config) { c.PivotSeverity = model.SeverityInfo },
			func(r groupingReport) bool { return len(r.noiseNotifiable) > 0 }},
	} {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		s := corpus(t, 3, scenario.Options{})
		r := newEngineRun(t, cfg)
		rep := checkGrouping(s.labels, r.run(s, 1), r.notifiable)
		if !tc.bad(rep) {
			t.Errorf("%s: did not happen (F1 %.3f, split %v, noise notifiable %v)", tc.name, rep.f, rep.split, rep.noiseNotifiable)
		}
	}
}
