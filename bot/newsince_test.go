package bot

import (
	"testing"

	"github.com/warroom/warroom/store"
)

func stats(maxID int64, rules ...store.RuleCount) *store.ChatAlertStats {
	st := &store.ChatAlertStats{MaxID: maxID, Rules: rules}
	for _, r := range rules {
		st.Total += r.Count
	}
	return st
}

func TestNewSinceTellsOnlyWhatCountsCanTell(t *testing.T) {
	before := stats(5, store.RuleCount{Rule: "a", Count: 3}, store.RuleCount{Rule: "b", Count: 2})
	now := stats(9, store.RuleCount{Rule: "a", Count: 4}, store.RuleCount{Rule: "c", Count: 3}, store.RuleCount{Rule: "b", Count: 2})
	got, ok := newSince(now, ruleCounts(before))
	if !ok {
		t.Fatal("newSince could not tell")
	}
	if got.Total != 4 || got.MaxID != 9 || len(got.Rules) != 2 ||
		got.Rules[0].Rule != "c" || got.Rules[0].Count != 3 || got.Rules[1].Rule != "a" || got.Rules[1].Count != 1 {
		t.Errorf("newSince = %+v, want 4 new: c ×3, a ×1, MaxID 9", got)
	}

	// Ties: by rule name, as the store orders them.
	tie := stats(9, store.RuleCount{Rule: "b", Count: 3}, store.RuleCount{Rule: "a", Count: 4})
	if got, ok := newSince(tie, map[string]int{"a": 3, "b": 2}); !ok || got.Rules[0].Rule != "a" || got.Rules[1].Rule != "b" {
		t.Errorf("tie order %+v", got)
	}

	full := make([]store.RuleCount, store.MaxStatsRules)
	for i := range full {
		full[i] = store.RuleCount{Rule: string(rune('A' + i)), Count: 1}
	}
	for name, c := range map[string]struct {
		all     *store.ChatAlertStats
		counted map[string]int
	}{
		"no counts":            {now, nil},
		"rules left out":       {stats(60, full...), map[string]int{"A": 1}},
		"fewer than counted":   {now, map[string]int{"a": 5}},
		"a counted rule gone":  {now, map[string]int{"a": 1, "z": 1}},
		"no statistics at all": {nil, map[string]int{}},
	} {
		if got, ok := newSince(c.all, c.counted); ok {
			t.Errorf("%s: newSince told %+v, want no answer", name, got)
		}
	}
	if ruleCounts(stats(60, full...)) != nil {
		t.Error("ruleCounts kept counts of a summary that may leave rules out")
	}
}
