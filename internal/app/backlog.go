package app

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 2 * time.Second

// chatBacklog reports the chat outbox at each scrape: per platform, the ops waiting to
// be delivered and those a platform refused for good. A backlog that keeps growing
// means a platform is down or rate limiting; dead ops mean messages that will never
// arrive (a channel archived by hand, a bot removed from a room).
type chatBacklog struct {
	st        *store.SQLite
	platforms []string // configured platforms, reported even when their outbox is empty
	desc      *prometheus.Desc
}

var _ prometheus.Collector = (*chatBacklog)(nil)

func newChatBacklog(st *store.SQLite, platforms []string) *chatBacklog {
	return &chatBacklog{st: st, platforms: platforms, desc: prometheus.NewDesc("warroom_chat_outbox_ops",
		"Chat operations in the outbox, by platform and state: pending (waiting or being retried) or dead (refused for good).",
		[]string{"platform", "state"}, nil)}
}

func (c *chatBacklog) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *chatBacklog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.st.CountChatOps(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	names := slices.Clone(c.platforms)
	for p := range counts {
		if !slices.Contains(names, p) {
			names = append(names, p) // a platform no longer configured that left ops behind
		}
	}
	slices.Sort(names)
	for _, p := range names {
		n := counts[p]
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.Pending), p, "pending")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.Dead), p, "dead")
	}
}

// sinkBacklog reports, at each scrape, how many audit events wait for each SIEM sink.
type sinkBacklog struct {
	st    *store.SQLite
	sinks []string
	desc  *prometheus.Desc
}

var _ prometheus.Collector = (*sinkBacklog)(nil)

func newSinkBacklog(st *store.SQLite, sinks []string) *sinkBacklog {
	return &sinkBacklog{st: st, sinks: sinks, desc: prometheus.NewDesc("warroom_sink_queue_events",
		"Audit events waiting to be delivered to a SIEM sink.", []string{"sink"}, nil)}
}

func (c *sinkBacklog) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *sinkBacklog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, s := range c.sinks {
		n, err := c.st.CountSinkEvents(ctx, s)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), s)
	}
}

// actionStates reports, at each scrape, how many containment actions are in each
// state: failed ones, and proposals waiting for approval, are what a team watches.
type actionStates struct {
	st   *store.SQLite
	desc *prometheus.Desc
}

var _ prometheus.Collector = (*actionStates)(nil)

func newActionStates(st *store.SQLite) *actionStates {
	return &actionStates{st: st, desc: prometheus.NewDesc("warroom_actions",
		"Containment actions by state.", []string{"state"}, nil)}
}

func (c *actionStates) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *actionStates) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.st.CountActionsByState(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range model.ActionStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
