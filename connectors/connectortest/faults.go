package connectortest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// faults is the fault injection every vendor fake embeds: queued failures, latency,
// refused credentials and a count of accepted state-changing calls. It implements
// FailNext and SetLatency of Faults; each fake decides what "expired" and "refused"
// look like in its own wire format.
type faults struct {
	fmu       sync.Mutex
	failLeft  int
	failCode  int
	latency   time.Duration
	reject    bool
	mutations int
}

// FailNext makes the next n API calls (not token or key requests) answer with
// status and the vendor's error body; a 429 carries Retry-After: 1. It replaces
// failures still queued.
func (b *faults) FailNext(status, n int) {
	b.fmu.Lock()
	b.failCode, b.failLeft = status, n
	b.fmu.Unlock()
}

// SetLatency delays every answer by d (0: none).
func (b *faults) SetLatency(d time.Duration) {
	b.fmu.Lock()
	b.latency = d
	b.fmu.Unlock()
}

// Mutations counts the state-changing calls accepted so far.
func (b *faults) Mutations() int {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	return b.mutations
}

func (b *faults) mutated() {
	b.fmu.Lock()
	b.mutations++
	b.fmu.Unlock()
}

func (b *faults) rejecting() bool {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	return b.reject
}

func (b *faults) setReject(v bool) {
	b.fmu.Lock()
	b.reject = v
	b.fmu.Unlock()
}

// delay holds the answer for the configured latency; when the client gives up first
// the connection is dropped without an answer. It reads the body first (and leaves it readable): the server notices a
// client that went away only once the body is consumed.
func (b *faults) delay(r *http.Request) bool {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	b.fmu.Lock()
	d := b.latency
	b.fmu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		// The client gave up: drop the connection without an answer, as a server that
		// is still busy would, so the client can never read a stray empty reply.
		panic(http.ErrAbortHandler)
	}
}

// takeFailure consumes one queued failure.
func (b *faults) takeFailure() (int, bool) {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	if b.failLeft <= 0 {
		return 0, false
	}
	b.failLeft--
	return b.failCode, true
}

// startTLSFake starts an HTTPS server on 127.0.0.1 and writes its certificate to a
// PEM file the connector under test can trust through ca_file, so connectors are
// tested with real certificate checks.
func startTLSFake(tb testing.TB, h http.Handler) (*httptest.Server, string) {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are tested on purpose
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	ca := filepath.Join(tb.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, block, 0o600); err != nil {
		tb.Fatalf("writing the fake's CA file: %v", err)
	}
	return srv, ca
}

// randomHex returns n random bytes in hex: opaque tokens, keys and ids.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// decodeStrictJSON decodes body into v, refusing unknown fields and trailing data.
func decodeStrictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONAs(w, "application/json", status, v)
}

// writeJSONAs answers status with v as JSON labelled with the vendor's own
// contentType.
func writeJSONAs(w http.ResponseWriter, contentType string, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
