package app

import (
	"context"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// newChatBacklog reports the chat outbox at each scrape: per platform, the ops waiting
// to be delivered and those a platform refused for good. A backlog that keeps growing
// means a platform is down or rate limiting; dead ops mean messages that will never
// arrive (a channel archived by hand, a bot removed from a room). Configured platforms
// are reported even when their outbox is empty.
func newChatBacklog(st *store.SQLite, platforms []string) prometheus.Collector {
	return api.NewStoreGauge("warroom_chat_outbox_ops",
		"Chat operations in the outbox, by platform and state: pending (waiting or being retried) or dead (refused for good).",
		[]string{"platform", "state"}, func(ctx context.Context) ([]api.Sample, error) {
			counts, err := st.CountChatOps(ctx)
			if err != nil {
				return nil, err
			}
			names := slices.Clone(platforms)
			for p := range counts {
				if !slices.Contains(names, p) {
					names = append(names, p) // a platform no longer configured that left ops behind
				}
			}
			slices.Sort(names)
			var out []api.Sample
			for _, p := range names {
				n := counts[p]
				out = append(out, api.Sample{Labels: []string{p, "pending"}, Value: float64(n.Pending)},
					api.Sample{Labels: []string{p, "dead"}, Value: float64(n.Dead)})
			}
			return out, nil
		})
}

// newSinkBacklog reports, at each scrape, how many audit events wait for each SIEM sink.
func newSinkBacklog(st *store.SQLite, sinks []string) prometheus.Collector {
	return api.NewStoreGauge("warroom_sink_queue_events", "Audit events waiting to be delivered to a SIEM sink.",
		[]string{"sink"}, func(ctx context.Context) ([]api.Sample, error) {
			var out []api.Sample
			for _, s := range sinks {
				n, err := st.CountSinkEvents(ctx, s)
				if err != nil {
					return out, err
				}
				out = append(out, api.Sample{Labels: []string{s}, Value: float64(n)})
			}
			return out, nil
		})
}

// newActionStates reports, at each scrape, how many containment actions are in each
// state: failed ones, and proposals waiting for approval, are what a team watches.
func newActionStates(st *store.SQLite) prometheus.Collector {
	return api.NewStoreGauge("warroom_actions", "Containment actions by state.", []string{"state"},
		func(ctx context.Context) ([]api.Sample, error) {
			counts, err := st.CountActionsByState(ctx)
			if err != nil {
				return nil, err
			}
			var out []api.Sample
			for _, s := range model.ActionStates {
				out = append(out, api.Sample{Labels: []string{string(s)}, Value: float64(counts[s])})
			}
			return out, nil
		})
}
