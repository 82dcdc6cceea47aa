package nftables

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	nft "github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
	"github.com/warroom/warroom/internal/clock"
)

// lab is two network namespaces joined by a veth pair:
//
//	A: veth-a 198.51.100.1/24, 2001:db8:51::1/64
//	B: veth-b 198.51.100.2/24, 198.51.100.3/24, 2001:db8:51::2/64
//
// The connector acts in A; traffic comes from B. Only the namespaces the lab
// creates are touched.
type lab struct {
	nsA, nsB string
	a, b     *os.File
}

const (
	addrA4  = "198.51.100.1"
	addrB4  = "198.51.100.2"
	addrB4x = "198.51.100.3"
	addrA6  = "2001:db8:51::1"
	addrB6  = "2001:db8:51::2"
)

var labSeq atomic.Int32

func newLab(tb testing.TB) *lab {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipped: needs root to create network namespaces and nf_tables rules (run the tests as root, as CI does)")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		tb.Skip("skipped: needs the ip command (Debian package iproute2)")
	}
	n := labSeq.Add(1)
	l := &lab{nsA: fmt.Sprintf("wr-a-%d-%d", os.Getpid(), n), nsB: fmt.Sprintf("wr-b-%d-%d", os.Getpid(), n)}
	run := func(args ...string) {
		tb.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{l.nsA, l.nsB} {
		run("netns", "add", ns)
		tb.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	}
	run("-n", l.nsA, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", l.nsB)
	run("-n", l.nsA, "addr", "add", addrA4+"/24", "dev", "veth-a")
	run("-n", l.nsA, "addr", "add", addrA6+"/64", "dev", "veth-a", "nodad")
	run("-n", l.nsB, "addr", "add", addrB4+"/24", "dev", "veth-b")
	run("-n", l.nsB, "addr", "add", addrB4x+"/24", "dev", "veth-b")
	run("-n", l.nsB, "addr", "add", addrB6+"/64", "dev", "veth-b", "nodad")
	for _, ns := range []string{l.nsA, l.nsB} {
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", l.nsA, "link", "set", "veth-a", "up")
	run("-n", l.nsB, "link", "set", "veth-b", "up")

	if l.a, err = os.Open("/run/netns/" + l.nsA); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.a.Close() })
	if l.b, err = os.Open("/run/netns/" + l.nsB); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.b.Close() })

	probe, err := nft.New(nft.WithNetNSFd(int(l.a.Fd())))
	if err == nil {
		_, err = probe.ListTablesOfFamily(nft.TableFamilyINet)
	}
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EAFNOSUPPORT) {
			tb.Skipf("skipped: nf_tables is not available in this kernel (%v); load the nf_tables module", err)
		}
		tb.Fatalf("probing nf_tables in %s: %v", l.nsA, err)
	}
	return l
}

// inNS runs fn on an OS thread switched into namespace ns. The thread is thrown away
// if it cannot be switched back.
func inNS(ns *os.File, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return // the thread stays locked and exits with the goroutine
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// listen starts a TCP server in namespace A on addr that greets each connection.
func (l *lab) listen(tb testing.TB, addr string) string {
	tb.Helper()
	var ln net.Listener
	if err := inNS(l.a, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// dial connects from src in namespace B to dst and reads the greeting.
func (l *lab) dial(src, dst string, timeout time.Duration) error {
	return inNS(l.b, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", dst)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if line != "hello\n" {
			return fmt.Errorf("unexpected greeting %q", line)
		}
		return nil
	})
}

// dropTimeout bounds a connection attempt that is expected to be dropped.
const dropTimeout = 400 * time.Millisecond

func (l *lab) mustPass(t *testing.T, src, dst, when string) {
	t.Helper()
	if err := l.dial(src, dst, 2*time.Second); err != nil {
		t.Fatalf("%s: %s → %s should pass, got %v", when, src, dst, err)
	}
}

func (l *lab) mustDrop(t *testing.T, src, dst, when string) {
	t.Helper()
	err := l.dial(src, dst, dropTimeout)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: %s → %s should be dropped (connect timing out), got %v", when, src, dst, err)
	}
}

func (l *lab) firewall(tb testing.TB, extra string, env connectors.Env) *Firewall {
	tb.Helper()
	cfg, err := ParseConfig([]byte("netns: " + l.nsA + "\n" + extra))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := New(cfg, env)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

func req(kind connectors.ActionKind, target string, ttl time.Duration) connectors.Request {
	tg, err := connectors.ParseTarget(target)
	if err != nil {
		panic(err)
	}
	return connectors.Request{ActionID: "act-" + target, IdempotencyKey: "key-" + target, Kind: kind, Target: tg, TTL: ttl}
}

func TestBlockDropsTrafficInNamespace(t *testing.T) {
	l := newLab(t)
	fw := l.firewall(t, "", connectors.Env{Name: "fw-a"})
	ctx := context.Background()
	dst4 := l.listen(t, addrA4)
	dst6 := l.listen(t, addrA6)

	l.mustPass(t, addrB4, dst4, "before the block")
	l.mustPass(t, addrB6, dst6, "before the block (IPv6)")

	block4 := req(connectors.BlockIP, addrB4, time.Hour)
	block6 := req(connectors.BlockIP, addrB6, time.Hour)
	for _, r := range []connectors.Request{block4, block6} {
		res, err := fw.Execute(ctx, r)
		if err != nil || !res.Changed {
			t.Fatalf("Execute(%s) = %+v, %v", r.Target, res, err)
		}
		v, err := fw.Verify(ctx, r)
		if err != nil || !v.InPlace || !v.Observed {
			t.Fatalf("Verify(%s) = %+v, %v", r.Target, v, err)
		}
		if left := time.Until(v.ExpiresAt); left < 59*time.Minute || left > time.Hour {
			t.Errorf("Verify(%s): expires in %s, want about 1h (the TTL)", r.Target, left)
		}
	}
	l.mustDrop(t, addrB4, dst4, "after blocking "+addrB4)
	l.mustDrop(t, addrB6, dst6, "after blocking "+addrB6)
	l.mustPass(t, addrB4x, dst4, "from a neighbour address that is not blocked")

	for _, r := range []connectors.Request{block4, block6} {
		res, err := fw.Revert(ctx, r)
		if err != nil || !res.Changed {
			t.Fatalf("Revert(%s) = %+v, %v", r.Target, res, err)
		}
		if v, err := fw.Verify(ctx, r); err != nil || v.InPlace {
			t.Fatalf("Verify after Revert(%s) = %+v, %v", r.Target, v, err)
		}
	}
	l.mustPass(t, addrB4, dst4, "after the revert")
	l.mustPass(t, addrB6, dst6, "after the revert (IPv6)")
}

func TestConformanceInNamespace(t *testing.T) {
	l := newLab(t)
	connectortest.RunConformance(t, func(t *testing.T, env connectors.Env) connectortest.Subject {
		tg, _ := connectors.ParseTarget(addrB4)
		return connectortest.Subject{Connector: l.firewall(t, "", env), Target: tg}
	})
	connectortest.RunConformance(t, func(t *testing.T, env connectors.Env) connectortest.Subject {
		tg, _ := connectors.ParseTarget(addrB6)
		return connectortest.Subject{Connector: l.firewall(t, "", env), Target: tg}
	})
}

func TestElementExpiresAtTTL(t *testing.T) {
	l := newLab(t)
	fw := l.firewall(t, "", connectors.Env{})
	ctx := context.Background()
	dst := l.listen(t, addrA4)
	r := req(connectors.BlockIP, addrB4, 500*time.Millisecond)
	if _, err := fw.Execute(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The kernel removes the element on its own; wait for that condition.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := fw.Verify(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if !v.InPlace {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("element still in place 10s after a 500ms ttl: %s", v.Detail)
		}
		<-tick.C
	}
	l.mustPass(t, addrB4, dst, "after the ttl ended")
}

func TestRepeatResetsTimeout(t *testing.T) {
	l := newLab(t)
	fw := l.firewall(t, "", connectors.Env{})
	ctx := context.Background()
	first := req(connectors.BlockIP, addrB4, time.Hour)
	if _, err := fw.Execute(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := first
	again.ActionID, again.TTL = "act-other", 3*time.Hour
	res, err := fw.Execute(ctx, again)
	if err != nil || res.Changed || res.Detail != "198.51.100.2/32 already in set warroom_block4; timeout reset to 3h" {
		t.Fatalf("repeat = %+v, %v", res, err)
	}
	v, err := fw.Verify(ctx, again)
	if err != nil || !v.InPlace {
		t.Fatalf("Verify = %+v %v", v, err)
	}
	if left := time.Until(v.ExpiresAt); left < 2*time.Hour {
		t.Errorf("expires in %s after a 3h repeat; the timeout was not reset", left)
	}
}

func TestPrefixesAndEdges(t *testing.T) {
	l := newLab(t)
	fw := l.firewall(t, "", connectors.Env{})
	ctx := context.Background()
	for _, target := range []string{"203.0.113.0/24", "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:dead::/48", "0.0.0.0/0"} {
		r := req(connectors.BlockIP, target, time.Hour)
		if res, err := fw.Execute(ctx, r); err != nil || !res.Changed {
			t.Fatalf("Execute(%s) = %+v %v", target, res, err)
		}
		if v, err := fw.Verify(ctx, r); err != nil || !v.InPlace {
			t.Fatalf("Verify(%s) = %+v %v", target, v, err)
		}
		if res, err := fw.Revert(ctx, r); err != nil || !res.Changed {
			t.Fatalf("Revert(%s) = %+v %v", target, res, err)
		}
	}
	// An address inside a blocked prefix is a different element: verifying it
	// reports absent, and adding it overlaps.
	if _, err := fw.Execute(ctx, req(connectors.BlockIP, "203.0.113.0/24", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v, _ := fw.Verify(ctx, req(connectors.BlockIP, "203.0.113.7", time.Hour)); v.InPlace {
		t.Error("203.0.113.7/32 verified while only 203.0.113.0/24 is in the set")
	}
	_, err := fw.Execute(ctx, req(connectors.BlockIP, "203.0.113.7", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.HasPrefix(err.Error(), "nftables: 203.0.113.7/32 overlaps an element already in set warroom_block4") {
		t.Fatalf("overlap: %v", err)
	}
	// The failed call left the connector usable.
	if v, err := fw.Verify(ctx, req(connectors.BlockIP, "203.0.113.0/24", time.Hour)); err != nil || !v.InPlace {
		t.Fatalf("after the overlap error: %+v %v", v, err)
	}
}

func TestRecreatesDeletedTableAndPrunesChains(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	fw := l.firewall(t, "", connectors.Env{})
	if _, err := fw.Execute(ctx, req(connectors.BlockIP, addrB4, time.Hour)); err != nil {
		t.Fatal(err)
	}
	admin, err := nft.New(nft.WithNetNSFd(int(l.a.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	chainNames := func() []string {
		chains, err := admin.ListChainsOfTableFamily(nft.TableFamilyINet)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range chains {
			if c.Table.Name == "warroom" {
				names = append(names, c.Name)
			}
		}
		slices.Sort(names)
		return names
	}
	if got := chainNames(); !slices.Equal(got, []string{"forward", "input"}) {
		t.Fatalf("chains %v, want forward and input", got)
	}
	admin.DelTable(&nft.Table{Family: nft.TableFamilyINet, Name: "warroom"})
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	// The table vanished behind the connector's back: the next block recreates it.
	r := req(connectors.BlockIP, addrB4x, time.Hour)
	if res, err := fw.Execute(ctx, r); err != nil || !res.Changed {
		t.Fatalf("Execute after the table was deleted = %+v, %v", res, err)
	}
	if v, err := fw.Verify(ctx, r); err != nil || !v.InPlace {
		t.Fatalf("Verify = %+v %v", v, err)
	}
	// A connector configured with fewer hooks removes the chains it no longer wants,
	// and keeps the set's elements.
	fw2 := l.firewall(t, "hooks: [input]\n", connectors.Env{})
	if _, err := fw2.Execute(ctx, req(connectors.BlockIP, addrB6, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := chainNames(); !slices.Equal(got, []string{"input"}) {
		t.Fatalf("chains %v, want only input", got)
	}
	if v, _ := fw2.Verify(ctx, r); !v.InPlace {
		t.Error("reconfiguring the chains lost an element")
	}
}

func TestReadyInNamespace(t *testing.T) {
	l := newLab(t)
	fw := l.firewall(t, "", connectors.Env{})
	rd := fw.Ready(context.Background())
	want := "table inet warroom not created yet; it is created at the first action in network namespace " + l.nsA + " (hooks input, forward, match saddr)"
	if !rd.OK() || rd.Reachable != connectors.Passed || rd.Permitted != connectors.Passed || rd.Message != want {
		t.Fatalf("Ready = %+v\nwant message %s", rd, want)
	}
	if _, err := fw.Execute(context.Background(), req(connectors.BlockIP, addrB4, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rd := fw.Ready(context.Background()); !strings.HasPrefix(rd.Message, "table inet warroom present in network namespace") {
		t.Fatalf("Ready after setup = %+v", rd)
	}
}

// fakeConn stands in for the kernel where a test needs an error the kernel will not
// produce on demand.
type fakeConn struct {
	nftAPI
	listErr error
}

func (f *fakeConn) ListTablesOfFamily(nft.TableFamily) ([]*nft.Table, error) { return nil, f.listErr }
func (f *fakeConn) CloseLasting() error                                      { return nil }

type nopGetter struct{}

func (nopGetter) getElement(nft.TableFamily, string, string, []byte, bool) (element, error) {
	return element{}, errNoElement
}
func (nopGetter) Close() error { return nil }

func TestReadyReportsPermissionAndAvailability(t *testing.T) {
	for _, tt := range []struct {
		err         error
		reach, perm connectors.Check
		msg         string
	}{
		{unix.EPERM, connectors.Passed, connectors.Failed, "nf_tables refuses access in this network namespace: warroom needs CAP_NET_ADMIN"},
		{unix.EPROTONOSUPPORT, connectors.Failed, connectors.Unchecked, "nf_tables is not reachable in this network namespace: protocol not supported"},
	} {
		fw := newFirewall(DefaultConfig(), connectors.Env{}, func() (nftAPI, elementGetter, error) { return &fakeConn{listErr: tt.err}, nopGetter{}, nil })
		rd := fw.Ready(context.Background())
		if rd.OK() || rd.Reachable != tt.reach || rd.Permitted != tt.perm || rd.Message != tt.msg {
			t.Errorf("%v: Ready = %+v", tt.err, rd)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err       error
		retryable bool
		msg       string
	}{
		{fmt.Errorf("conn.Receive: %w", unix.EPERM), false, "nftables: adding: conn.Receive: operation not permitted; warroom needs CAP_NET_ADMIN (run as root or grant the capability)"},
		{unix.EPROTONOSUPPORT, false, "nftables: adding: protocol not supported; nf_tables is not available in this kernel (load the nf_tables module)"},
		{unix.ENOBUFS, true, "nftables: adding: no buffer space available"},
		{unix.EBUSY, true, "nftables: adding: device or resource busy"},
		{unix.EINVAL, false, "nftables: adding: invalid argument"},
		{errors.New("netlink: short read"), true, "nftables: adding: netlink: short read"},
	} {
		err := classify("adding", tt.err)
		if err.Error() != tt.msg || connectors.Retryable(err) != tt.retryable {
			t.Errorf("classify(%v) = %q retryable=%v, want %q %v", tt.err, err, connectors.Retryable(err), tt.msg, tt.retryable)
		}
	}
}

func TestDryRunNeverTouchesTheKernel(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	fw := newFirewall(DefaultConfig(), connectors.Env{DryRun: true, Clock: clk}, func() (nftAPI, elementGetter, error) {
		t.Fatal("dry run opened a netlink socket")
		return nil, nil, nil
	})
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.7", 24*time.Hour)
	res, err := fw.Execute(ctx, r)
	if err != nil || !res.DryRun || res.Detail != "dry run: would add 203.0.113.7/32 to set warroom_block4, timeout 24h" {
		t.Fatalf("Execute = %+v %v", res, err)
	}
	if v, _ := fw.Verify(ctx, r); !v.InPlace || !v.DryRun || v.Observed {
		t.Errorf("Verify = %+v", v)
	}
	if res, _ := fw.Revert(ctx, r); res.Detail != "dry run: would delete 203.0.113.7/32 from set warroom_block4" {
		t.Errorf("Revert = %+v", res)
	}
	if rd := fw.Ready(ctx); !rd.OK() || rd.Message != "dry run: the kernel is not touched" {
		t.Errorf("Ready = %+v", rd)
	}
}

func TestPreview(t *testing.T) {
	fw := newFirewall(DefaultConfig(), connectors.Env{}, nil)
	for _, tt := range []struct {
		r    connectors.Request
		want string
	}{
		{req(connectors.BlockIP, "203.0.113.7", 24*time.Hour), "add 203.0.113.7/32 to set warroom_block4, timeout 24h"},
		{req(connectors.BlockIP, "2001:db8::/64", 90*time.Minute), "add 2001:db8::/64 to set warroom_block6, timeout 1h30m"},
		{req(connectors.UnblockIP, "203.0.113.7", 0), "delete 203.0.113.7/32 from set warroom_block4"},
	} {
		d, err := fw.Preview(context.Background(), tt.r)
		if err != nil || d.String() != tt.want {
			t.Errorf("Preview(%s %s) = %q %v, want %q", tt.r.Kind, tt.r.Target, d, err, tt.want)
		}
	}
	_, err := fw.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.7", 0))
	if err == nil || connectors.Retryable(err) || err.Error() != "nftables: blocking 203.0.113.7/32 needs a ttl; elements always expire" {
		t.Errorf("without ttl: %v", err)
	}
}

func TestIntervalElements(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		keys   []string
	}{
		{"203.0.113.7/32", []string{"203.0.113.7", "203.0.113.8 end"}},
		{"203.0.113.0/24", []string{"203.0.113.0", "203.0.114.0 end"}},
		{"255.255.255.255/32", []string{"255.255.255.255"}},
		{"2001:db8::/64", []string{"2001:db8::", "2001:db8:0:1:: end"}},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0"}},
	} {
		var got []string
		for _, e := range elements(netip.MustParsePrefix(tt.prefix), time.Hour, "c") {
			a, _ := netip.AddrFromSlice(e.Key)
			s := a.String()
			if e.IntervalEnd {
				s += " end"
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tt.keys) {
			t.Errorf("elements(%s) = %v, want %v", tt.prefix, got, tt.keys)
		}
	}
}

// BenchmarkExecuteVerify measures a block_ip Execute followed by its Verify against
// the kernel in a fresh network namespace, and reports their p50 and p99. Each
// element is reverted outside the timed section, so the set holds `preload`
// elements throughout.
func BenchmarkExecuteVerify(b *testing.B) {
	for _, preload := range []int{0, 10000} {
		b.Run(fmt.Sprintf("set=%d", preload), func(b *testing.B) {
			l := newLab(b)
			fw := l.firewall(b, "", connectors.Env{})
			ctx := context.Background()
			if _, err := fw.Execute(ctx, req(connectors.BlockIP, "192.0.2.1", time.Hour)); err != nil {
				b.Fatal(err)
			}
			if preload > 0 {
				fw.mu.Lock()
				c, _ := fw.connLocked()
				for i := 0; i < preload; i += 1000 {
					var els []nft.SetElement
					for j := i; j < i+1000 && j < preload; j++ {
						a := netip.AddrFrom4([4]byte{100, 64, byte(j >> 7), byte(j<<1) & 0xfe})
						els = append(els, elements(netip.PrefixFrom(a, 32), time.Hour, "")...)
					}
					if err := c.SetAddElements(fw.set4, els); err != nil {
						b.Fatal(err)
					}
					if err := c.Flush(); err != nil {
						b.Fatal(err)
					}
				}
				fw.mu.Unlock()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 7), byte(i<<1) & 0xfe})
				r := connectors.Request{ActionID: "bench", IdempotencyKey: fmt.Sprint(i), Kind: connectors.BlockIP, Target: connectors.IPTarget(netip.PrefixFrom(a, 32)), TTL: time.Hour}
				start := time.Now()
				if _, err := fw.Execute(ctx, r); err != nil {
					b.Fatal(err)
				}
				v, err := fw.Verify(ctx, r)
				if err != nil || !v.InPlace {
					b.Fatal(err, v)
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if _, err := fw.Revert(ctx, r); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(lat)
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
			b.ReportMetric(p(0.50), "p50-µs")
			b.ReportMetric(p(0.99), "p99-µs")
		})
	}
}
