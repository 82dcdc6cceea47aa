package actions

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/edl"
	"github.com/warroom/warroom/connectors/nftables"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// timed wraps a connector and notes when Execute is entered and how long Verify takes.
type timed struct {
	connectors.Connector
	mu      sync.Mutex
	entered time.Time
	verify  time.Duration
}

func (t *timed) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	t.mu.Lock()
	t.entered = time.Now()
	t.mu.Unlock()
	return t.Connector.Execute(ctx, req)
}

func (t *timed) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	start := time.Now()
	v, err := t.Connector.Verify(ctx, req)
	t.mu.Lock()
	t.verify = time.Since(start)
	t.mu.Unlock()
	return v, err
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// benchApprove measures, per action, the time from the approving call to the
// connector's Execute (the policy checks, the compare-and-set commit and the guardrails
// in between) and the time Verify takes, and reports their p50 and p99.
func benchApprove(b *testing.B, conn connectors.Connector) {
	path := filepath.Join(b.TempDir(), "warroom.db")
	clk := clock.Real{}
	st, err := store.OpenSQLite(context.Background(), path, store.Options{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	g, err := connectors.NewGuard(connectors.GuardConfig{RateLimit: connectors.RateLimit{Actions: 1_000_000, Per: time.Second}}, clk)
	if err != nil {
		b.Fatal(err)
	}
	tc := &timed{Connector: conn}
	e, err := New(context.Background(), Options{Store: st, Clock: clk, Guard: g,
		Connectors: map[string]connectors.Connector{conn.Name(): tc}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	base := netip.MustParseAddr("198.18.0.1") // RFC 2544 benchmarking range
	var inc int64
	callLat := make([]time.Duration, 0, b.N)
	verLat := make([]time.Duration, 0, b.N)
	addr := base
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if i%200 == 0 {
			inc = benchIncident(b, st)
		}
		a, err := e.Propose(ctx, inc, ProposeRequest{Kind: "block_ip", Target: addr.String(), Connector: conn.Name(), TTL: time.Hour}, alice)
		if err != nil {
			b.Fatal(err)
		}
		addr = addr.Next()
		b.StartTimer()
		start := time.Now()
		got, err := e.Approve(ctx, a.ID, bob)
		if err != nil || got.State != model.ActionSucceeded || !got.Verified {
			b.Fatalf("approve: %+v %v", got, err)
		}
		tc.mu.Lock()
		callLat = append(callLat, tc.entered.Sub(start))
		verLat = append(verLat, tc.verify)
		tc.mu.Unlock()
	}
	b.StopTimer()
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(percentile(callLat, 0.5)), "approve-to-call-p50-µs")
	b.ReportMetric(us(percentile(callLat, 0.99)), "approve-to-call-p99-µs")
	b.ReportMetric(us(percentile(verLat, 0.5)), "verify-p50-µs")
	b.ReportMetric(us(percentile(verLat, 0.99)), "verify-p99-µs")
}

func benchIncident(b *testing.B, st *store.SQLite) int64 {
	var id int64
	now := time.Now().UTC()
	err := st.Submit(context.Background(), func(tx store.Tx) error {
		id = tx.NextIncidentID()
		return tx.UpsertIncident(&model.Incident{ID: id, Number: model.IncidentNumber(id), Kind: model.KindNormal,
			Status: model.StatusOpen, OpenedAt: now, UpdatedAt: now})
	})
	if err != nil {
		b.Fatal(err)
	}
	return id
}

func BenchmarkApproveToConnectorCall(b *testing.B) {
	b.Run("edl", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "edl.db")
		st, err := store.OpenSQLite(context.Background(), path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		cfg, _ := edl.ParseConfig(nil)
		cfg.MaxEntries = 1_000_000
		l, err := edl.New(cfg, connectors.Env{Name: "edl"}, EDLState(st))
		if err != nil {
			b.Fatal(err)
		}
		benchApprove(b, l)
	})
	b.Run("nftables", func(b *testing.B) {
		if os.Geteuid() != 0 {
			b.Skip("skipped: needs root to create a network namespace")
		}
		ns := fmt.Sprintf("wr-bench-%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			b.Skipf("skipped: ip netns add: %v %s", err, out)
		}
		defer exec.Command("ip", "netns", "del", ns).Run()
		cfg, err := nftables.ParseConfig([]byte("netns: " + ns + "\n"))
		if err != nil {
			b.Fatal(err)
		}
		fw, err := nftables.New(cfg, connectors.Env{Name: "nft"})
		if err != nil {
			b.Fatal(err)
		}
		defer fw.Close()
		benchApprove(b, fw)
	})
}
