package app_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPrometheusAlertmanagerToWarroom runs Debian's Prometheus and Alertmanager on
// loopback ports: a Prometheus rule fires for a few seconds, Alertmanager's webhook
// receiver posts to warroom's alertmanager source with the source's bearer token, an
// incident opens, and Alertmanager's resolved notification is recorded.
func TestPrometheusAlertmanagerToWarroom(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager; skipped in -short")
	}
	prom, err1 := exec.LookPath("prometheus")
	am, err2 := exec.LookPath("prometheus-alertmanager")
	if err1 != nil || err2 != nil {
		t.Skip("skipped: needs Debian's prometheus and prometheus-alertmanager packages (make test installs them as root)")
	}
	s := newServer(t)
	events, stop := s.App.Pipeline.Subscribe()
	defer stop()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	write(t, tokFile, testIngest)
	amPort, promPort := freePort(t), freePort(t)
	write(t, filepath.Join(dir, "alertmanager.yml"), fmt.Sprintf(`route:
  receiver: warroom
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: warroom
    webhook_configs:
      - url: %s/api/v1/ingest/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: %s
`, s.URL, tokFile))
	// The rule fires from the first evaluation until 12 s after the test started, then
	// resolves.
	until := time.Now().Add(12 * time.Second).Unix()
	write(t, filepath.Join(dir, "rules.yml"), fmt.Sprintf(`groups:
  - name: edge
    interval: 1s
    rules:
      - alert: InterfaceDown
        expr: vector(1) and on() (vector(time()) < %d)
        labels: {severity: critical, instance: "edge-r1:9100", interface: eth0}
        annotations: {summary: "eth0 on edge-r1 is down"}
`, until))
	write(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:%d"]
`, filepath.Join(dir, "rules.yml"), amPort))
	amExit := start(t, am, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort), "--cluster.listen-address=")
	promExit := start(t, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort),
		// Send firing alerts every second: the first evaluation can come before the
		// Alertmanager is discovered, and the default would wait a minute to resend.
		"--rules.alert.resend-delay=1s")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var firing, resolved bool
	var incident int64
	for !(firing && resolved) {
		select {
		case <-ctx.Done():
			l, _ := s.C.Alerts(context.Background(), url.Values{"limit": {"20"}})
			var seen []string
			for _, a := range l.Items {
				seen = append(seen, fmt.Sprintf("%s/%s/%s", a.Source, a.Rule, a.Status))
			}
			t.Fatalf("after 90 s: firing alert recorded %v, resolved notification recorded %v; alerts stored: %v", firing, resolved, seen)
		case err := <-amExit:
			t.Fatalf("alertmanager exited: %v", err)
		case err := <-promExit:
			t.Fatalf("prometheus exited: %v", err)
		case <-events:
		}
		l, err := s.C.Alerts(ctx, url.Values{"limit": {"100"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range l.Items {
			if a.Source != "alertmanager" || a.Rule != "InterfaceDown" {
				continue
			}
			if a.IncidentID == nil {
				t.Fatalf("alert %d from Alertmanager has no incident", a.ID)
			}
			if incident == 0 {
				incident = *a.IncidentID
			}
			switch a.Status {
			case "firing":
				firing = true
			case "resolved":
				resolved = true
			}
		}
	}
	d, err := s.C.Incident(ctx, fmt.Sprint(incident))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Notifiable || d.Severity.String() != "critical" || !strings.Contains(strings.ToLower(d.Title), "edge-r1") {
		t.Errorf("incident from Alertmanager: %+v", d.Incident)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a server process for the test's lifetime, its output in the test log on
// failure. The channel gets the process's end if it stops by itself.
func start(t *testing.T, bin string, args ...string) <-chan error {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(done)
		exited <- fmt.Errorf("%v", err)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), tail(out.String(), 3000))
		}
	})
	return exited
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
