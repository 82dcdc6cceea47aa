package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestPprofAddrMustBeLoopback(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:6060":    `--pprof "0.0.0.0:6060": profiles are served on loopback only; use 127.0.0.1:PORT or [::1]:PORT`,
		":6060":           `--pprof ":6060": profiles are served on loopback only; use 127.0.0.1:PORT or [::1]:PORT`,
		"localhost:6060":  `--pprof "localhost:6060": profiles are served on loopback only; use 127.0.0.1:PORT or [::1]:PORT`,
		"192.0.2.10:6060": `--pprof "192.0.2.10:6060": profiles are served on loopback only; use 127.0.0.1:PORT or [::1]:PORT`,
		"6060":            `--pprof "6060": want host:port on loopback, for example 127.0.0.1:6060`,
	} {
		err := checkPprofAddr(addr)
		if err == nil || err.Error() != want {
			t.Errorf("checkPprofAddr(%q) = %v, want %q", addr, err, want)
		}
	}
	for _, ok := range []string{"127.0.0.1:6060", "[::1]:0", "127.0.0.2:0"} {
		if err := checkPprofAddr(ok); err != nil {
			t.Errorf("checkPprofAddr(%q) = %v, want nil", ok, err)
		}
	}
}

func TestServeRefusesPublicPprofBeforeStarting(t *testing.T) {
	err := serve([]string{"--config", "../../config.example.yaml", "--pprof", "0.0.0.0:6060"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Fatalf("serve with a public --pprof: %v, want the loopback error", err)
	}
}

func TestPprofServesProfilesOnLoopback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := listenPprof(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Fatalf("goroutine profile: %d %.200q", res.StatusCode, body)
	}
}
