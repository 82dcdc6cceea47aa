package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

const (
	childEnv   = "WARROOM_TEST_SERVE_DB"
	testIngest = "test-ingest-token"
	testAPI    = "test-api-token"
)

// TestMain lets the test binary double as a warroom server: with childEnv set it serves
// the example configuration on a free loopback port, prints "LISTEN <addr>" and runs
// until killed or sent SIGTERM.
func TestMain(m *testing.M) {
	if db := os.Getenv(childEnv); db != "" {
		if err := serveChild(db); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveChild(db string) error {
	cfg, err := config.Load("../../config.example.yaml")
	if err != nil {
		return err
	}
	cfg.Database = db
	cfg.LogLevel = "error"
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		return err
	}
	err = a.Serve(ctx, "127.0.0.1:0", func(addr net.Addr) { fmt.Printf("LISTEN %s\n", addr) })
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	return err
}

type child struct {
	cmd  *exec.Cmd
	base string
}

func startChild(t *testing.T, db string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+db, "WARROOM_INGEST_TOKEN="+testIngest, "WARROOM_API_TOKEN="+testAPI)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "LISTEN ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return &child{cmd: cmd, base: "http://" + strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))}
}

func (c *child) client() *api.Client {
	return &api.Client{Base: c.base, APIToken: testAPI, IngestToken: testIngest,
		HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// eveLine returns a distinct Suricata alert; every 7th shares its source with others so
// incidents form and grow while the process is killed.
func eveLine(n int) string {
	src := fmt.Sprintf("203.0.113.%d", n%200+1)
	dst := fmt.Sprintf("198.51.100.%d", n%31+1)
	ts := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * 100 * time.Millisecond)
	return fmt.Sprintf(`{"timestamp":"%s","flow_id":%d,"event_type":"alert","src_ip":"%s","src_port":%d,"dest_ip":"%s","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2}}`,
		ts.Format("2006-01-02T15:04:05.000000-0700"), 1000000+n, src, 40000+n%20000, dst)
}

// TestCrashLosesNoAcknowledgedAlert kills a serving process with SIGKILL while four
// clients post alerts, restarts it on the same database and checks that every alert
// answered with 202 is there, that incident counts match their alerts and that the
// audit chain verifies.
func TestCrashLosesNoAcknowledgedAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts processes; skipped in -short")
	}
	db := filepath.Join(t.TempDir(), "crash.db")
	c := startChild(t, db)
	cl := c.client()

	var (
		mu    sync.Mutex
		acked []int64
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 100000; i++ { // bounded: the kill ends it long before
				var b strings.Builder
				for j := 0; j < 10; j++ {
					b.WriteString(eveLine((i*4+w)*10 + j))
					b.WriteByte('\n')
				}
				r, err := cl.Ingest(context.Background(), "suricata", "application/x-ndjson", []byte(b.String()))
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, r.AlertIDs...)
				if len(acked) >= 3000 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}(w)
	}
	select {
	case <-enough:
	case <-time.After(2 * time.Minute):
		t.Fatal("fewer than 3000 alerts acknowledged in 2 minutes")
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	wg.Wait()
	t.Logf("%d alerts acknowledged before SIGKILL", len(acked))

	c2 := startChild(t, db)
	cl2 := c2.client()
	missing := 0
	for _, id := range acked {
		a, err := cl2.Alert(context.Background(), id)
		if err != nil {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged alert %d: %v", id, err)
			}
			continue
		}
		if a.IncidentID == nil {
			t.Errorf("alert %d has no incident after restart", id)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged alerts missing after SIGKILL", missing, len(acked))
	}
	// The restarted server keeps correlating onto the restored incidents.
	if _, err := cl2.Ingest(context.Background(), "suricata", "application/x-ndjson", []byte(eveLine(1)+"\n")); err != nil {
		t.Fatalf("ingest after restart: %v", err)
	}
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c2.cmd.Wait(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}
	checkConsistent(t, db)
}

// checkConsistent opens the database after the server stopped: every live incident's
// alert_count equals its alerts, no alert points at a closed-by-merge incident, and
// the audit chain verifies.
func checkConsistent(t *testing.T, db string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("audit chain: %v (after %d entries)", err, n)
	}
	if n == 0 {
		t.Error("audit log is empty; incidents should have been recorded")
	}
	cursor := ""
	checked := 0
	for range 10000 {
		incs, next, err := st.Incidents(ctx, store.IncidentFilter{Limit: 500, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range incs {
			count := 0
			ac := ""
			for range 10000 {
				as, anext, err := st.Alerts(ctx, store.AlertFilter{IncidentID: in.ID, Limit: 1000, Cursor: ac})
				if err != nil {
					t.Fatal(err)
				}
				count += len(as)
				if anext == "" {
					break
				}
				ac = anext
			}
			if in.Status == model.StatusMerged {
				if count != 0 {
					t.Errorf("%s is merged but %d alerts still point at it", in.Number, count)
				}
				continue
			}
			if count != in.AlertCount {
				t.Errorf("%s alert_count %d, but %d alerts point at it", in.Number, in.AlertCount, count)
			}
			checked++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if checked == 0 {
		t.Error("no incidents to check")
	}
}
