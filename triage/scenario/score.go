package scenario

import "strings"

// PairwiseF1 scores a grouping against labels the way the shared corpus's score.py
// does: pairwise precision, recall and F1 over the pairs that involve at least one
// campaign alert. Noise alerts ("noise-N") may group among themselves as they like,
// but a noise alert grouped with a campaign alert, or two campaigns grouped together,
// is a false pair. truth and pred hold one label and one group key per alert, in the
// same order; an alert without a group needs a key of its own.
func PairwiseF1(truth, pred []string) (precision, recall, f1 float64) {
	noise := func(t string) bool { return strings.HasPrefix(t, "noise") }
	pairs := func(n int) int { return n * (n - 1) / 2 }
	type cell struct{ t, p string }
	cells := map[cell]int{}
	size, noiseIn, truthN := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range truth {
		cells[cell{truth[i], pred[i]}]++
		size[pred[i]]++
		truthN[truth[i]]++
		if noise(truth[i]) {
			noiseIn[pred[i]]++
		}
	}
	tp, pp, tpairs := 0, 0, 0
	for c, n := range cells {
		if !noise(c.t) {
			tp += pairs(n)
		}
	}
	for g, n := range size {
		pp += pairs(n) - pairs(noiseIn[g])
	}
	for t, n := range truthN {
		if !noise(t) {
			tpairs += pairs(n)
		}
	}
	precision, recall = 1, 1
	if pp > 0 {
		precision = float64(tp) / float64(pp)
	}
	if tpairs > 0 {
		recall = float64(tp) / float64(tpairs)
	}
	if precision+recall > 0 {
		f1 = 2 * precision * recall / (precision + recall)
	}
	return precision, recall, f1
}
