package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 2 * time.Second

// Sample is one value of a StoreGauge, with its label values in the gauge's order.
type Sample struct {
	Labels []string
	Value  float64
}

// storeGauge is a gauge read at each scrape, so its figures are never stale.
type storeGauge struct {
	desc *prometheus.Desc
	read func(context.Context) ([]Sample, error)
}

var _ prometheus.Collector = (*storeGauge)(nil)

// NewStoreGauge returns a gauge whose samples read returns at each scrape, within
// scrapeTimeout. The samples read returns with an error are served all the same; the
// error makes the scrape log it and leave the rest out.
func NewStoreGauge(name, help string, labels []string, read func(context.Context) ([]Sample, error)) prometheus.Collector {
	return &storeGauge{desc: prometheus.NewDesc(name, help, labels, nil), read: read}
}

func (g *storeGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *storeGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	samples, err := g.read(ctx)
	for _, s := range samples {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, s.Value, s.Labels...)
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
	}
}
