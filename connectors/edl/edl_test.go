package edl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
	"github.com/warroom/warroom/internal/clock"
)

const (
	testToken    = "edl-t0ken-7f3a9c"
	testPassword = "edl-passw0rd-91bc"
)

func secretsEnv(env connectors.Env) connectors.Env {
	env.LookupEnv = func(k string) (string, bool) {
		v, ok := map[string]string{"EDL_TOKEN": testToken, "EDL_PASSWORD": testPassword}[k]
		return v, ok
	}
	return env
}

func TestConformance(t *testing.T) {
	for name, raw := range map[string]string{
		"no auth": "list: conf\n",
		"bearer":  "list: conf\nauth: bearer\ntoken_env: EDL_TOKEN\n",
		"basic":   "list: conf\nauth: basic\nusername: pa\npassword_env: EDL_PASSWORD\n",
	} {
		t.Run(name, func(t *testing.T) {
			connectortest.RunConformance(t, func(t *testing.T, env connectors.Env) connectortest.Subject {
				c, err := connectors.New("edl", []byte(raw), secretsEnv(env))
				if err != nil {
					t.Fatal(err)
				}
				return connectortest.Subject{Connector: c, Secrets: []string{testToken, testPassword}}
			})
		})
	}
	t.Run("ipv6", func(t *testing.T) {
		connectortest.RunConformance(t, func(t *testing.T, env connectors.Env) connectortest.Subject {
			c, err := New(DefaultConfig(), env, nil)
			if err != nil {
				t.Fatal(err)
			}
			target, _ := connectors.ParseTarget("2001:db8:bad::7")
			return connectortest.Subject{Connector: c, Target: target}
		})
	})
}

type fixture struct {
	edl *EDL
	clk *clock.Fake
}

func newFixture(t *testing.T, raw string) fixture {
	t.Helper()
	cfg, err := ParseConfig([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	e, err := New(cfg, secretsEnv(connectors.Env{Name: "edl-test", Clock: clk}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{edl: e, clk: clk}
}

func block(t testing.TB, target string, ttl time.Duration) connectors.Request {
	t.Helper()
	tg, err := connectors.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	return connectors.Request{ActionID: "act-" + target, IdempotencyKey: "key-" + target, Kind: connectors.BlockIP, Target: tg, TTL: ttl}
}

func (f fixture) do(t *testing.T, reqs ...connectors.Request) {
	t.Helper()
	for _, r := range reqs {
		if _, err := f.edl.Execute(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServedListSortedAndExpiring(t *testing.T) {
	f := newFixture(t, "")
	f.do(t,
		block(t, "2001:db8::7", time.Hour),
		block(t, "203.0.113.7", 3*time.Hour),
		block(t, "198.51.100.0/30", time.Hour),
		block(t, "198.51.100.200", 2*time.Hour),
		block(t, "9.9.9.10", time.Hour),
	)
	resp := get(t, f.edl, "/edl/warroom-block.txt", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("ETag") == "" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	want := "9.9.9.10\n198.51.100.0/30\n198.51.100.200\n203.0.113.7\n2001:db8::7\n"
	if got := body(t, resp); got != want {
		t.Fatalf("list\n%s\nwant\n%s", got, want)
	}

	f.clk.Advance(time.Hour) // the 1h entries expire exactly now
	if got := body(t, get(t, f.edl, "/edl/warroom-block.txt", nil)); got != "198.51.100.200\n203.0.113.7\n" {
		t.Fatalf("after 1h: %q", got)
	}
	f.clk.Advance(2 * time.Hour)
	if got := body(t, get(t, f.edl, "/edl/warroom-block.txt", nil)); got != "" {
		t.Fatalf("after 3h: %q, want an empty list", got)
	}
	v, err := f.edl.Verify(context.Background(), block(t, "203.0.113.7", time.Hour))
	if err != nil || v.InPlace {
		t.Fatalf("Verify after expiry: %+v %v", v, err)
	}
}

func TestETag(t *testing.T) {
	f := newFixture(t, "")
	f.do(t, block(t, "203.0.113.7", time.Hour))
	first := get(t, f.edl, "/edl/warroom-block.txt", nil)
	etag := first.Header.Get("ETag")
	tests := []struct {
		name, inm string
		status    int
	}{
		{"no header", "", 200},
		{"same tag", etag, 304},
		{"weak form", "W/" + etag, 304},
		{"in a list", `"other", ` + etag, 304},
		{"star", "*", 304},
		{"other tag", `"0123"`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, f.edl, "/edl/warroom-block.txt", map[string]string{"If-None-Match": tt.inm})
			if resp.StatusCode != tt.status || resp.Header.Get("ETag") != etag {
				t.Fatalf("status %d etag %s, want %d %s", resp.StatusCode, resp.Header.Get("ETag"), tt.status, etag)
			}
			if b := body(t, resp); tt.status == 304 && b != "" {
				t.Errorf("304 with a body %q", b)
			}
		})
	}
	f.do(t, block(t, "203.0.113.8", time.Hour))
	resp := get(t, f.edl, "/edl/warroom-block.txt", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Fatalf("after a change: status %d etag %s; want a fresh 200", resp.StatusCode, resp.Header.Get("ETag"))
	}
	// An expiry changes the list, so it changes the tag too.
	etag2 := resp.Header.Get("ETag")
	f.clk.Advance(time.Hour)
	if resp := get(t, f.edl, "/edl/warroom-block.txt", map[string]string{"If-None-Match": etag2}); resp.StatusCode != 200 {
		t.Fatalf("after expiry: status %d, want 200", resp.StatusCode)
	}
}

func TestAuth(t *testing.T) {
	basic := newFixture(t, "auth: basic\nusername: pa\npassword_env: EDL_PASSWORD\n")
	bearer := newFixture(t, "auth: bearer\ntoken_env: EDL_TOKEN\n")
	basicHdr := func(u, p string) map[string]string {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(u, p)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	tests := []struct {
		name   string
		f      fixture
		hdr    map[string]string
		status int
		chall  string
	}{
		{"basic ok", basic, basicHdr("pa", testPassword), 200, ""},
		{"basic wrong password", basic, basicHdr("pa", "nope"), 401, `Basic realm="warroom edl", charset="UTF-8"`},
		{"basic wrong user", basic, basicHdr("admin", testPassword), 401, `Basic realm="warroom edl", charset="UTF-8"`},
		{"basic missing", basic, nil, 401, `Basic realm="warroom edl", charset="UTF-8"`},
		{"basic given a bearer", basic, map[string]string{"Authorization": "Bearer " + testToken}, 401, `Basic realm="warroom edl", charset="UTF-8"`},
		{"bearer ok", bearer, map[string]string{"Authorization": "Bearer " + testToken}, 200, ""},
		{"bearer lower-case scheme", bearer, map[string]string{"Authorization": "bearer " + testToken}, 200, ""},
		{"bearer wrong", bearer, map[string]string{"Authorization": "Bearer " + testToken + "x"}, 401, `Bearer realm="warroom edl"`},
		{"bearer prefix only", bearer, map[string]string{"Authorization": "Bearer " + testToken[:5]}, 401, `Bearer realm="warroom edl"`},
		{"bearer missing", bearer, nil, 401, `Bearer realm="warroom edl"`},
		{"bearer empty", bearer, map[string]string{"Authorization": "Bearer "}, 401, `Bearer realm="warroom edl"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, tt.f.edl, "/edl/warroom-block.txt", tt.hdr)
			if resp.StatusCode != tt.status || resp.Header.Get("WWW-Authenticate") != tt.chall {
				t.Fatalf("status %d challenge %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.status, tt.chall)
			}
			if b := body(t, resp); strings.Contains(b, testToken) || strings.Contains(b, testPassword) {
				t.Error("the response leaks a secret")
			}
		})
	}
}

func TestMuxAndMethods(t *testing.T) {
	a := newFixture(t, "list: alpha\n")
	b := newFixture(t, "list: beta\n")
	a.do(t, block(t, "203.0.113.1", time.Hour))
	b.do(t, block(t, "203.0.113.2", time.Hour))
	srv := httptest.NewServer(Mux(a.edl, b.edl))
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/edl/alpha.txt", 200, "203.0.113.1\n"},
		{"GET", "/edl/beta.txt", 200, "203.0.113.2\n"},
		{"HEAD", "/edl/beta.txt", 200, ""},
		{"GET", "/edl/gamma.txt", 404, "404 page not found\n"},
		{"GET", "/edl/alpha", 404, "404 page not found\n"},
		{"GET", "/other/alpha.txt", 404, "404 page not found\n"},
		{"POST", "/edl/alpha.txt", 405, "method not allowed\n"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := body(t, resp)
		resp.Body.Close()
		if resp.StatusCode != tt.status || got != tt.body {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, got, tt.status, tt.body)
		}
		if tt.method == "HEAD" && resp.ContentLength != int64(len("203.0.113.2\n")) {
			t.Errorf("HEAD Content-Length %d", resp.ContentLength)
		}
	}
}

func TestExecuteResults(t *testing.T) {
	f := newFixture(t, "max_entries: 2\n")
	ctx := context.Background()
	r, err := f.edl.Execute(ctx, block(t, "203.0.113.7", 24*time.Hour))
	if err != nil || !r.Changed || r.Detail != "added 203.0.113.7/32 to EDL warroom-block, expires in 24h" || !r.ExpiresAt.Equal(f.clk.Now().Add(24*time.Hour)) {
		t.Fatalf("Execute = %+v, %v", r, err)
	}
	f.clk.Advance(time.Hour)
	r, err = f.edl.Execute(ctx, block(t, "203.0.113.7", 24*time.Hour))
	if err != nil || r.Changed || r.Detail != "203.0.113.7/32 already on EDL warroom-block; expiry moved to 24h from now" || !r.ExpiresAt.Equal(f.clk.Now().Add(24*time.Hour)) {
		t.Fatalf("repeat = %+v, %v", r, err)
	}
	d, _ := f.edl.Preview(ctx, block(t, "203.0.113.9", 24*time.Hour))
	if d.String() != "add 203.0.113.9/32 to EDL warroom-block, timeout 24h" {
		t.Errorf("Preview = %q", d)
	}
	f.do(t, block(t, "203.0.113.8", time.Hour))
	_, err = f.edl.Execute(ctx, block(t, "203.0.113.9", time.Hour))
	if err == nil || connectors.Retryable(err) || err.Error() != "edl warroom-block: list is full (2 entries, max_entries 2); raise max_entries if the firewall accepts more, or unblock something" {
		t.Fatalf("over max_entries: %v", err)
	}
	_, err = f.edl.Execute(ctx, block(t, "203.0.113.10", 0))
	if err == nil || connectors.Retryable(err) || err.Error() != "edl warroom-block: adding 203.0.113.10/32 needs a ttl; entries always expire" {
		t.Fatalf("without ttl: %v", err)
	}
	unblock := block(t, "203.0.113.7", 0)
	unblock.Kind = connectors.UnblockIP
	r, err = f.edl.Execute(ctx, unblock)
	if err != nil || !r.Changed || r.Detail != "removed 203.0.113.7/32 from EDL warroom-block" {
		t.Fatalf("unblock = %+v %v", r, err)
	}
	if v, _ := f.edl.Verify(ctx, unblock); !v.InPlace {
		t.Error("unblock not verified")
	}
	// Reverting an unblock lists the prefix again for the request's TTL.
	unblock.TTL = time.Hour
	if r, err = f.edl.Revert(ctx, unblock); err != nil || !r.Changed {
		t.Fatalf("revert unblock = %+v %v", r, err)
	}
	if v, _ := f.edl.Verify(ctx, block(t, "203.0.113.7", time.Hour)); !v.InPlace {
		t.Error("revert of an unblock did not list the prefix again")
	}
	if _, err := f.edl.Execute(ctx, connectors.Request{IdempotencyKey: "k", Kind: connectors.IsolateHost, Target: connectors.HostTarget("h")}); err == nil || !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("isolate_host: %v", err)
	}
}

func TestDryRun(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	e, err := New(DefaultConfig(), connectors.Env{Clock: clk, DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := block(t, "203.0.113.7", 24*time.Hour)
	r, err := e.Execute(ctx, req)
	if err != nil || !r.DryRun || !r.Changed || r.Detail != "dry run: would add 203.0.113.7/32 to EDL warroom-block, timeout 24h" {
		t.Fatalf("dry-run Execute = %+v %v", r, err)
	}
	if got := body(t, get(t, e, "/edl/warroom-block.txt", nil)); got != "" {
		t.Fatalf("dry run changed the served list: %q", got)
	}
	if v, _ := e.Verify(ctx, req); !v.InPlace || !v.DryRun || v.Observed {
		t.Errorf("dry-run Verify = %+v", v)
	}
	if r, _ := e.Revert(ctx, req); !r.DryRun || !r.Changed || r.Detail != "dry run: would remove 203.0.113.7/32 from EDL warroom-block" {
		t.Errorf("dry-run Revert = %+v", r)
	}
	if rd := e.Ready(ctx); !strings.HasSuffix(rd.Message, ", dry run") {
		t.Errorf("Ready message %q does not mention dry run", rd.Message)
	}
}

func TestPersistence(t *testing.T) {
	store := NewMemoryStore()
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	env := connectors.Env{Clock: clk, State: store}
	c1, err := connectors.New("edl", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c1.Execute(ctx, block(t, "203.0.113.7", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Execute(ctx, block(t, "203.0.113.8", 2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A restart: a new connector on the same store serves the same list.
	clk.Advance(90 * time.Minute)
	c2, err := connectors.New("edl", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := body(t, get(t, c2.(*EDL), "/edl/warroom-block.txt", nil)); got != "203.0.113.8\n" {
		t.Fatalf("after restart: %q", got)
	}
	if left, _ := store.Load(ctx, "warroom-block"); len(left) != 1 {
		t.Errorf("expired entry still in the store: %v", left)
	}
	_, err = connectors.New("edl", nil, connectors.Env{State: "not a store"})
	if err == nil || err.Error() != `connector "edl" (type edl): the state store (string) does not implement edl.Store; entries could not survive a restart` {
		t.Errorf("wrong state type: %v", err)
	}
}

type failingStore struct{ *MemoryStore }

func (failingStore) Put(context.Context, string, Entry) error {
	return errors.New("database is locked")
}
func (failingStore) Load(context.Context, string) ([]Entry, error) { return nil, nil }

func TestStoreErrorsAreRetryable(t *testing.T) {
	e, err := New(DefaultConfig(), connectors.Env{}, failingStore{NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Execute(context.Background(), block(t, "203.0.113.7", time.Hour))
	if err == nil || !connectors.Retryable(err) || err.Error() != "edl warroom-block: storing 203.0.113.7/32: database is locked" {
		t.Fatalf("err = %v", err)
	}
	if v, _ := e.Verify(context.Background(), block(t, "203.0.113.7", time.Hour)); v.InPlace {
		t.Error("a failed store write left the entry listed")
	}
}

func TestReady(t *testing.T) {
	f := newFixture(t, "auth: bearer\ntoken_env: EDL_TOKEN\n")
	f.do(t, block(t, "203.0.113.7", time.Hour))
	rd := f.edl.Ready(context.Background())
	if !rd.OK() || rd.Message != "serving /edl/warroom-block.txt with 1 entries, auth bearer" {
		t.Errorf("Ready = %+v", rd)
	}
}

// BenchmarkExecuteVerify measures one block_ip Execute followed by its Verify, and
// reports the p50 and p99 of that pair.
func BenchmarkExecuteVerify(b *testing.B) {
	e, err := New(Config{List: "bench", Auth: AuthNone, MaxEntries: 1 << 24}, connectors.Env{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		a := netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)})
		req := connectors.Request{ActionID: "a", IdempotencyKey: fmt.Sprint(i), Kind: connectors.BlockIP, Target: connectors.IPTarget(netip.PrefixFrom(a, 32)), TTL: time.Hour}
		start := time.Now()
		if _, err := e.Execute(ctx, req); err != nil {
			b.Fatal(err)
		}
		v, err := e.Verify(ctx, req)
		if err != nil || !v.InPlace {
			b.Fatal(err, v)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
}

func TestExpiryFollowsRefreshes(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	listed := func(target string) bool {
		v, err := f.edl.Verify(ctx, block(t, target, time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return v.InPlace
	}
	f.do(t, block(t, "203.0.113.1", time.Hour), block(t, "203.0.113.2", time.Hour))
	f.clk.Advance(30 * time.Minute)
	f.do(t, block(t, "203.0.113.1", time.Hour)) // refreshed: now expires at +90m
	unblock := block(t, "203.0.113.2", 0)
	unblock.Kind = connectors.UnblockIP
	f.do(t, unblock, block(t, "203.0.113.2", 2*time.Hour)) // re-added: expires at +150m
	f.clk.Advance(30 * time.Minute)                        // +60m: both original expiries pass
	if !listed("203.0.113.1") || !listed("203.0.113.2") {
		t.Fatal("an entry expired at its superseded time")
	}
	if got := body(t, get(t, f.edl, "/edl/warroom-block.txt", nil)); got != "203.0.113.1\n203.0.113.2\n" {
		t.Fatalf("list at +60m: %q", got)
	}
	f.clk.Advance(30 * time.Minute) // +90m
	if listed("203.0.113.1") || !listed("203.0.113.2") {
		t.Fatal("at +90m only the refreshed entry should be gone")
	}
	f.clk.Advance(time.Hour) // +150m
	if listed("203.0.113.2") {
		t.Fatal("the re-added entry outlived its ttl")
	}
	for i := range 500 { // churn leaves stale heap items; they are compacted
		r := block(t, "203.0.113.9", time.Hour)
		r.IdempotencyKey = fmt.Sprint(i)
		f.do(t, r)
	}
	f.edl.mu.Lock()
	n := len(f.edl.expiry)
	f.edl.mu.Unlock()
	if n > 2*1+64+1 {
		t.Errorf("expiry heap holds %d items for 1 entry", n)
	}
}

func FuzzETagMatch(f *testing.F) {
	f.Add(`"abc"`, `"abc"`)
	f.Add(`W/"abc", "def"`, `"def"`)
	f.Add(`*`, `"x"`)
	f.Fuzz(func(t *testing.T, header, etag string) {
		etagMatch(header, etag)
		if etag != "" && !strings.Contains(etag, ",") && strings.TrimSpace(etag) == etag && !etagMatch(etag, etag) {
			t.Fatalf("a tag does not match itself: %q", etag)
		}
	})
}
