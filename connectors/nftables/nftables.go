// Package nftables blocks and unblocks addresses in the Linux kernel's nf_tables
// through netlink (github.com/google/nftables; no nft binary). warroom keeps its own
// inet table with an IPv4 and an IPv6 set (flags interval, timeout) and base chains
// that drop traffic whose address is in a set. A block adds a set element whose
// timeout is the action's TTL, so the kernel itself lifts it when the TTL ends;
// Verify reads the set back; Revert deletes the element. It can act in another
// network namespace.
package nftables

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/clock"
)

// Sample is an example configuration, documented key by key.
//
//go:embed sample.yaml
var Sample []byte

func init() { connectors.Register("nftables", factory) }

func factory(raw []byte, env connectors.Env) (connectors.Connector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return New(cfg, env)
}

// nftAPI is the part of *nftables.Conn the connector calls.
type nftAPI interface {
	AddTable(*nft.Table) *nft.Table
	AddSet(*nft.Set, []nft.SetElement) error
	AddChain(*nft.Chain) *nft.Chain
	DelChain(*nft.Chain)
	FlushChain(*nft.Chain)
	AddRule(*nft.Rule) *nft.Rule
	SetAddElements(*nft.Set, []nft.SetElement) error
	SetDeleteElements(*nft.Set, []nft.SetElement) error
	GetSetElements(*nft.Set) ([]nft.SetElement, error)
	ListTablesOfFamily(nft.TableFamily) ([]*nft.Table, error)
	ListChainsOfTableFamily(nft.TableFamily) ([]*nft.Chain, error)
	Flush() error
	CloseLasting() error
}

var _ nftAPI = (*nft.Conn)(nil)

// elementGetter reads one set element from the kernel (NFT_MSG_GETSETELEM without
// a dump). The nftables library only dumps whole sets, which takes about a second for
// 10,000 elements; a single-element get costs the same at any set size.
type elementGetter interface {
	getElement(family nft.TableFamily, table, set string, key []byte, end bool) (element, error)
	Close() error
}

// element is what the kernel returned for a get: the element holding key, which for
// an interval set may be the start of a wider interval containing it.
type element struct {
	Key     []byte
	End     bool
	Expires time.Duration
}

// errNoElement is returned by getElement when no element matches.
var errNoElement = errors.New("no such element")

type netlinkGetter struct{ c *netlink.Conn }

func dialGetter(ns *os.File) (*netlinkGetter, error) {
	cfg := &netlink.Config{}
	if ns != nil {
		cfg.NetNS = int(ns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, err
	}
	return &netlinkGetter{c: c}, nil
}

func (g *netlinkGetter) Close() error { return g.c.Close() }

func (g *netlinkGetter) getElement(family nft.TableFamily, table, set string, key []byte, end bool) (element, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, table)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, set)
	ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(list *netlink.AttributeEncoder) error {
		list.Nested(unix.NFTA_LIST_ELEM, func(el *netlink.AttributeEncoder) error {
			el.Nested(unix.NFTA_SET_ELEM_KEY, func(k *netlink.AttributeEncoder) error {
				k.Bytes(unix.NFTA_DATA_VALUE, key)
				return nil
			})
			if end {
				el.Bytes(unix.NFTA_SET_ELEM_FLAGS, binary.BigEndian.AppendUint32(nil, unix.NFT_SET_ELEM_INTERVAL_END))
			}
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return element{}, err
	}
	msg := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM),
			Flags: netlink.Request,
		},
		// nfgenmsg: family, version, resource id.
		Data: append([]byte{byte(family), unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	replies, err := g.c.Execute(msg)
	if err != nil {
		if isErrno(err, unix.ENOENT) {
			return element{}, errNoElement
		}
		return element{}, err
	}
	for _, r := range replies {
		if len(r.Data) < 4 {
			continue
		}
		if e, ok, err := parseElement(r.Data[4:]); err != nil || ok {
			return e, err
		}
	}
	return element{}, errNoElement
}

func parseElement(b []byte) (element, bool, error) {
	var e element
	var found bool
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return e, false, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				if list.Type() != unix.NFTA_LIST_ELEM || found {
					continue
				}
				found = true
				list.Nested(func(el *netlink.AttributeDecoder) error {
					for el.Next() {
						switch el.Type() {
						case unix.NFTA_SET_ELEM_KEY:
							el.Nested(func(k *netlink.AttributeDecoder) error {
								for k.Next() {
									if k.Type() == unix.NFTA_DATA_VALUE {
										e.Key = k.Bytes()
									}
								}
								return nil
							})
						case unix.NFTA_SET_ELEM_FLAGS:
							e.End = el.Uint32()&unix.NFT_SET_ELEM_INTERVAL_END != 0
						case unix.NFTA_SET_ELEM_EXPIRATION:
							e.Expires = time.Duration(el.Uint64()) * time.Millisecond
						}
					}
					return nil
				})
			}
			return nil
		})
	}
	return e, found, ad.Err()
}

// Firewall is a configured nftables connector.
type Firewall struct {
	name  string
	cfg   Config
	clock clock.Clock
	log   *slog.Logger
	sim   *connectors.Simulation // non-nil in dry-run mode
	dial  func() (nftAPI, elementGetter, error)
	ns    *os.File // the network namespace, if configured

	mu         sync.Mutex
	conn       nftAPI
	get        elementGetter
	setUp      bool
	table      *nft.Table
	set4, set6 *nft.Set
}

var _ connectors.Connector = (*Firewall)(nil)

// New returns the connector described by cfg. With netns set it opens the namespace
// now (and fails if it does not exist). Close releases it.
func New(cfg Config, env connectors.Env) (*Firewall, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var ns *os.File
	if p := cfg.netnsPath(); p != "" {
		f, err := os.Open(p)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("netns: cannot open %s: %w; create the namespace (ip netns add %s) or fix the path", p, err, cfg.NetNS)
		}
		ns = f
	}
	dial := func() (nftAPI, elementGetter, error) {
		opts := []nft.ConnOption{nft.AsLasting()}
		if ns != nil {
			opts = append(opts, nft.WithNetNSFd(int(ns.Fd())))
		}
		c, err := nft.New(opts...)
		if err != nil {
			return nil, nil, classify("opening a netlink socket", err)
		}
		g, err := dialGetter(ns)
		if err != nil {
			_ = c.CloseLasting()
			return nil, nil, classify("opening a netlink socket", err)
		}
		return c, g, nil
	}
	f := newFirewall(cfg, env, dial)
	f.ns = ns
	return f, nil
}

func newFirewall(cfg Config, env connectors.Env, dial func() (nftAPI, elementGetter, error)) *Firewall {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "nftables"
	}
	f := &Firewall{name: env.Name, cfg: cfg, clock: env.Clock, dial: dial,
		log: env.Logger.With("connector", env.Name, "table", cfg.Table)}
	if cfg.DryRun || env.DryRun {
		f.sim = connectors.NewSimulation(env.Clock)
	}
	f.table = &nft.Table{Family: nft.TableFamilyINet, Name: cfg.Table}
	return f
}

// Close releases the netlink socket and the namespace handle.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	if f.conn != nil {
		err = errors.Join(f.conn.CloseLasting(), f.get.Close())
		f.conn, f.get = nil, nil
	}
	if f.ns != nil {
		err = errors.Join(err, f.ns.Close())
		f.ns = nil
	}
	return err
}

// Name implements connectors.Connector.
func (f *Firewall) Name() string { return f.name }

// Capabilities implements connectors.Connector.
func (f *Firewall) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

// connLocked returns the netlink connection, dialling it if needed.
func (f *Firewall) connLocked() (nftAPI, error) {
	if f.conn == nil {
		c, g, err := f.dial()
		if err != nil {
			return nil, err
		}
		f.conn, f.get = c, g
	}
	return f.conn, nil
}

// dropConnLocked discards the connection after an error, so a half-read batch
// reply cannot confuse the next operation.
func (f *Firewall) dropConnLocked() {
	if f.conn != nil {
		_ = f.conn.CloseLasting()
		_ = f.get.Close()
		f.conn, f.get = nil, nil
	}
	f.setUp = false
}

// ensureLocked creates the table, sets, chains and rules if this connector has not
// done so yet. It is idempotent: existing sets and their elements are kept, and the
// chains warroom owns are rewritten in one transaction.
func (f *Firewall) ensureLocked() error {
	if f.setUp {
		return nil
	}
	c, err := f.connLocked()
	if err != nil {
		return err
	}
	chains, err := c.ListChainsOfTableFamily(nft.TableFamilyINet)
	if err != nil && !isErrno(err, unix.ENOENT) {
		f.dropConnLocked()
		return classify("listing chains", err)
	}
	t := c.AddTable(&nft.Table{Family: nft.TableFamilyINet, Name: f.cfg.Table})
	set4 := &nft.Set{Table: t, Name: f.cfg.Set4, KeyType: nft.TypeIPAddr, Interval: true, HasTimeout: true}
	set6 := &nft.Set{Table: t, Name: f.cfg.Set6, KeyType: nft.TypeIP6Addr, Interval: true, HasTimeout: true}
	for _, s := range []*nft.Set{set4, set6} {
		if err := c.AddSet(s, nil); err != nil {
			return connectors.Permanent(fmt.Errorf("nftables: preparing set %s: %w", s.Name, err))
		}
	}
	want := map[string]bool{}
	for _, h := range f.cfg.Hooks {
		want[h] = true
	}
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == f.cfg.Table && !want[ch.Name] {
			c.FlushChain(ch)
			c.DelChain(&nft.Chain{Name: ch.Name, Table: t})
		}
	}
	prio := nft.ChainPriority(f.cfg.priority())
	policy := nft.ChainPolicyAccept
	for _, h := range f.cfg.Hooks {
		ch := c.AddChain(&nft.Chain{Name: h, Table: t, Type: nft.ChainTypeFilter, Hooknum: hookOf(h), Priority: &prio, Policy: &policy})
		c.FlushChain(ch)
		for _, m := range f.cfg.Match {
			c.AddRule(&nft.Rule{Table: t, Chain: ch, Exprs: dropRule(unix.NFPROTO_IPV4, m, set4)})
			c.AddRule(&nft.Rule{Table: t, Chain: ch, Exprs: dropRule(unix.NFPROTO_IPV6, m, set6)})
		}
	}
	if err := c.Flush(); err != nil {
		f.dropConnLocked()
		if isErrno(err, unix.EEXIST) {
			return connectors.Permanent(fmt.Errorf("nftables: table inet %s holds a set or chain with other settings (%w); remove it (nft delete table inet %s) and let warroom recreate it", f.cfg.Table, err, f.cfg.Table))
		}
		return classify("creating table inet "+f.cfg.Table, err)
	}
	f.table, f.set4, f.set6, f.setUp = t, set4, set6, true
	f.log.Info("nftables: table ready", "hooks", strings.Join(f.cfg.Hooks, ","), "match", strings.Join(f.cfg.Match, ","))
	return nil
}

func hookOf(h string) *nft.ChainHook {
	switch h {
	case "forward":
		return nft.ChainHookForward
	case "output":
		return nft.ChainHookOutput
	case "prerouting":
		return nft.ChainHookPrerouting
	}
	return nft.ChainHookInput
}

// dropRule is `meta nfproto <fam> <ip|ip6> <saddr|daddr> @set counter drop`.
func dropRule(fam byte, match string, set *nft.Set) []expr.Any {
	var off, n uint32 = 12, 4 // IPv4 saddr
	switch {
	case fam == unix.NFPROTO_IPV4 && match == "daddr":
		off = 16
	case fam == unix.NFPROTO_IPV6 && match == "saddr":
		off, n = 8, 16
	case fam == unix.NFPROTO_IPV6:
		off, n = 24, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// setFor returns the set (and its name) for prefix p. Callers hold f.mu.
func (f *Firewall) setFor(p netip.Prefix) *nft.Set {
	if p.Addr().Is4() {
		return f.set4
	}
	return f.set6
}

func (f *Firewall) setName(p netip.Prefix) string {
	if p.Addr().Is4() {
		return f.cfg.Set4
	}
	return f.cfg.Set6
}

// elements are the interval elements covering p: its first address, and the address
// after its last marked as the interval end (absent when p reaches the top of the
// address space).
func elements(p netip.Prefix, ttl time.Duration, comment string) []nft.SetElement {
	els := []nft.SetElement{{Key: p.Addr().AsSlice(), Timeout: ttl, Comment: comment}}
	if end, ok := afterLast(p); ok {
		els = append(els, nft.SetElement{Key: end.AsSlice(), IntervalEnd: true})
	}
	return els
}

func afterLast(p netip.Prefix) (netip.Addr, bool) {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	next := last.Next()
	return next, next.IsValid()
}

// lookupLocked asks the kernel whether p is an element of its set, with its
// remaining lifetime: the interval's start must be an element of its own (not merely
// inside a wider interval) and its end must be the matching interval end. A missing
// table, set or element reads as absent.
func (f *Firewall) lookupLocked(p netip.Prefix) (bool, time.Duration, error) {
	if _, err := f.connLocked(); err != nil {
		return false, 0, err
	}
	set := f.setName(p)
	start := p.Addr().AsSlice()
	e, err := f.get.getElement(nft.TableFamilyINet, f.cfg.Table, set, start, false)
	if errors.Is(err, errNoElement) {
		return false, 0, nil
	}
	if err != nil {
		f.dropConnLocked()
		return false, 0, classify("reading set "+set, err)
	}
	if e.End || string(e.Key) != string(start) {
		return false, 0, nil
	}
	if end, ok := afterLast(p); ok {
		ee, err := f.get.getElement(nft.TableFamilyINet, f.cfg.Table, set, end.AsSlice(), true)
		if errors.Is(err, errNoElement) {
			return false, 0, nil
		}
		if err != nil {
			f.dropConnLocked()
			return false, 0, classify("reading set "+set, err)
		}
		if !ee.End || string(ee.Key) != string(end.AsSlice()) {
			return false, 0, nil
		}
	}
	return true, e.Expires, nil
}

func comment(req connectors.Request) string {
	s := "warroom " + req.ActionID
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, s)
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// Execute adds (block_ip) or deletes (unblock_ip) the target's element. Repeating a
// block resets the element's timeout to the TTL, atomically, and reports
// Changed=false.
func (f *Firewall) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.Temporary(err)
	}
	if f.sim != nil {
		d, err := f.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return f.sim.Execute(req, d), nil
	}
	if req.Kind == connectors.BlockIP {
		return f.add(req)
	}
	return f.remove(req.Target.Prefix)
}

// Revert undoes Execute: a block's element is deleted; an unblock is re-added for
// req.TTL.
func (f *Firewall) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.Temporary(err)
	}
	if f.sim != nil {
		return f.sim.Revert(req, connectors.Diff{Changes: []string{f.describe(req, true)}}), nil
	}
	if req.Kind == connectors.BlockIP {
		return f.remove(req.Target.Prefix)
	}
	return f.add(req)
}

func (f *Firewall) add(req connectors.Request) (connectors.Result, error) {
	p := req.Target.Prefix
	if req.TTL <= 0 {
		return connectors.Result{}, connectors.Permanent(fmt.Errorf("nftables: blocking %s needs a ttl; elements always expire", p))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var present bool
	for attempt := 0; ; attempt++ {
		if err := f.ensureLocked(); err != nil {
			return connectors.Result{}, err
		}
		var err error
		present, _, err = f.lookupLocked(p)
		if err != nil {
			return connectors.Result{}, err
		}
		c, err := f.connLocked()
		if err != nil {
			return connectors.Result{}, err
		}
		set := f.setFor(p)
		if present {
			// Delete and re-add in one transaction: the block never lapses, and the
			// timeout restarts on every kernel version.
			if err := c.SetDeleteElements(set, elements(p, 0, "")); err != nil {
				return connectors.Result{}, connectors.Permanent(fmt.Errorf("nftables: encoding %s: %w", p, err))
			}
		}
		if err := c.SetAddElements(set, elements(p, req.TTL, comment(req))); err != nil {
			return connectors.Result{}, connectors.Permanent(fmt.Errorf("nftables: encoding %s: %w", p, err))
		}
		err = c.Flush()
		if err == nil {
			break
		}
		f.dropConnLocked()
		switch {
		case isErrno(err, unix.ENOENT) && attempt == 0:
			continue // the table or set vanished under us: recreate it once
		case isErrno(err, unix.EEXIST):
			return connectors.Result{}, connectors.Permanent(fmt.Errorf("nftables: %s overlaps an element already in set %s (%w); unblock the overlapping entry first", p, set.Name, err))
		}
		return connectors.Result{}, classify(fmt.Sprintf("adding %s to set %s", p, set.Name), err)
	}
	set := f.setName(p)
	res := connectors.Result{Changed: !present, Reference: "inet " + f.cfg.Table + " " + set, ExpiresAt: f.clock.Now().Add(req.TTL)}
	if present {
		res.Detail = fmt.Sprintf("%s already in set %s; timeout reset to %s", p, set, connectors.FormatDuration(req.TTL))
	} else {
		res.Detail = fmt.Sprintf("added %s to set %s, timeout %s", p, set, connectors.FormatDuration(req.TTL))
	}
	f.log.Info("nftables: blocked", "prefix", p.String(), "set", set, "ttl", req.TTL.String(), "action", req.ActionID, "changed", res.Changed)
	return res, nil
}

func (f *Firewall) remove(p netip.Prefix) (connectors.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.setName(p)
	res := connectors.Result{Reference: "inet " + f.cfg.Table + " " + set}
	present, _, err := f.lookupLocked(p)
	if err != nil {
		return connectors.Result{}, err
	}
	if !present {
		res.Detail = fmt.Sprintf("%s was not in set %s", p, set)
		return res, nil
	}
	c, err := f.connLocked()
	if err != nil {
		return connectors.Result{}, err
	}
	s := f.setFor(p)
	if s == nil {
		s = &nft.Set{Table: f.table, Name: set}
	}
	if err := c.SetDeleteElements(s, elements(p, 0, "")); err != nil {
		return connectors.Result{}, connectors.Permanent(fmt.Errorf("nftables: encoding %s: %w", p, err))
	}
	if err := c.Flush(); err != nil {
		f.dropConnLocked()
		if isErrno(err, unix.ENOENT) {
			res.Detail = fmt.Sprintf("%s left set %s before it was deleted (expired)", p, set)
			return res, nil
		}
		return connectors.Result{}, classify(fmt.Sprintf("deleting %s from set %s", p, set), err)
	}
	res.Changed = true
	res.Detail = fmt.Sprintf("deleted %s from set %s", p, set)
	f.log.Info("nftables: unblocked", "prefix", p.String(), "set", set)
	return res, nil
}

// Verify reads the set back from the kernel.
func (f *Firewall) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Verification{}, err
	}
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.Temporary(err)
	}
	if f.sim != nil {
		return f.sim.Verify(req), nil
	}
	p := req.Target.Prefix
	f.mu.Lock()
	present, left, err := f.lookupLocked(p)
	f.mu.Unlock()
	if err != nil {
		return connectors.Verification{}, err
	}
	now := f.clock.Now()
	set := f.setName(p)
	v := connectors.Verification{Observed: true, CheckedAt: now, InPlace: present == (req.Kind == connectors.BlockIP)}
	if present {
		v.ExpiresAt = now.Add(left)
		v.Detail = fmt.Sprintf("%s is in set inet %s %s, expires in %s", p, f.cfg.Table, set, connectors.FormatDuration(left.Round(time.Second)))
	} else {
		v.Detail = fmt.Sprintf("%s is not in set inet %s %s", p, f.cfg.Table, set)
	}
	return v, nil
}

// Preview describes the change, e.g. "add 203.0.113.7/32 to set warroom_block4,
// timeout 24h".
func (f *Firewall) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: []string{f.describe(req, false)}}, nil
}

func (f *Firewall) describe(req connectors.Request, revert bool) string {
	p := req.Target.Prefix
	add := req.Kind == connectors.BlockIP
	if revert {
		add = !add
	}
	if add {
		return fmt.Sprintf("add %s to set %s, timeout %s", p, f.setName(p), connectors.FormatDuration(req.TTL))
	}
	return fmt.Sprintf("delete %s from set %s", p, f.setName(p))
}

// Ready lists the inet tables: that needs nf_tables in the kernel and CAP_NET_ADMIN
// in the namespace. It changes nothing.
func (f *Firewall) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{Authenticated: connectors.Unchecked}
	where := "this network namespace"
	if f.cfg.NetNS != "" {
		where = "network namespace " + f.cfg.NetNS
	}
	if f.sim != nil {
		r.Reachable, r.Permitted = connectors.Unchecked, connectors.Unchecked
		r.Message = "dry run: the kernel is not touched"
		return r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.connLocked()
	var tables []*nft.Table
	if err == nil {
		tables, err = c.ListTablesOfFamily(nft.TableFamilyINet)
		if err != nil {
			f.dropConnLocked()
		}
	}
	if err != nil {
		switch {
		case isErrno(err, unix.EPERM), isErrno(err, unix.EACCES), errors.Is(err, os.ErrPermission):
			r.Reachable, r.Permitted = connectors.Passed, connectors.Failed
			r.Message = fmt.Sprintf("nf_tables refuses access in %s: warroom needs CAP_NET_ADMIN", where)
		default:
			r.Reachable, r.Permitted = connectors.Failed, connectors.Unchecked
			r.Message = fmt.Sprintf("nf_tables is not reachable in %s: %v", where, err)
		}
		return r
	}
	r.Reachable, r.Permitted = connectors.Passed, connectors.Passed
	state := "not created yet; it is created at the first action"
	for _, t := range tables {
		if t.Name == f.cfg.Table {
			state = "present"
		}
	}
	r.Message = fmt.Sprintf("table inet %s %s in %s (hooks %s, match %s)", f.cfg.Table, state, where, strings.Join(f.cfg.Hooks, ", "), strings.Join(f.cfg.Match, ", "))
	return r
}

// isErrno reports whether err carries errno. Some library calls flatten the netlink
// error with %v, so the message is checked too.
func isErrno(err error, errno unix.Errno) bool {
	return err != nil && (errors.Is(err, errno) || strings.HasSuffix(err.Error(), ": "+errno.Error()))
}

// classify wraps a netlink error with what was being done and whether retrying can
// help.
func classify(op string, err error) error {
	switch {
	case isErrno(err, unix.EPERM), isErrno(err, unix.EACCES), errors.Is(err, os.ErrPermission):
		return connectors.Permanent(fmt.Errorf("nftables: %s: %w; warroom needs CAP_NET_ADMIN (run as root or grant the capability)", op, err))
	case isErrno(err, unix.EPROTONOSUPPORT), isErrno(err, unix.EOPNOTSUPP), isErrno(err, unix.EAFNOSUPPORT):
		return connectors.Permanent(fmt.Errorf("nftables: %s: %w; nf_tables is not available in this kernel (load the nf_tables module)", op, err))
	case isErrno(err, unix.EBUSY), isErrno(err, unix.ENOBUFS), isErrno(err, unix.EAGAIN),
		isErrno(err, unix.EINTR), isErrno(err, unix.ENOMEM), isErrno(err, unix.ETIMEDOUT),
		errors.Is(err, os.ErrDeadlineExceeded):
		return connectors.Temporary(fmt.Errorf("nftables: %s: %w", op, err))
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return connectors.Permanent(fmt.Errorf("nftables: %s: %w", op, err))
	}
	return connectors.Temporary(fmt.Errorf("nftables: %s: %w", op, err))
}
