package playbooks

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/warroom/warroom/triage/model"
)

// yield is what a selector's values are.
type yield uint8

const (
	yieldAddrs yield = iota // IP addresses
	yieldHosts              // host names, or addresses of hosts without a name
	yieldNames              // other names: domains, devices, interfaces
)

// selector is a named, documented way to pick an action's targets from an incident.
type selector struct {
	name string
	// yields says what the values are; block_ip and unblock_ip need addresses.
	yields yield
	// internal: the values are internal assets, so acting on them needs allow_internal.
	internal bool
	doc      string
	field    func(*selectors) *[]string
}

// Selectors lists the selector names in documentation order.
func Selectors() []string {
	out := make([]string, len(selectorTable))
	for i, s := range selectorTable {
		out[i] = s.name
	}
	return out
}

var selectorTable = []*selector{
	{"external_src_ips", yieldAddrs, false, "source addresses outside the internal networks (attackers, scanners)",
		func(s *selectors) *[]string { return &s.ExternalSrcIPs }},
	{"external_dst_ips", yieldAddrs, false, "destination addresses outside the internal networks (exfiltration endpoints)",
		func(s *selectors) *[]string { return &s.ExternalDstIPs }},
	{"internal_src_ips", yieldAddrs, true, "source addresses inside the internal networks",
		func(s *selectors) *[]string { return &s.InternalSrcIPs }},
	{"internal_dst_ips", yieldAddrs, true, "destination addresses inside the internal networks (victims)",
		func(s *selectors) *[]string { return &s.InternalDstIPs }},
	{"internal_src_hosts", yieldHosts, true, "per alert, the source host names; the internal source addresses of alerts naming no source host",
		func(s *selectors) *[]string { return &s.InternalSrcHosts }},
	{"internal_dst_hosts", yieldHosts, true, "per alert, the destination host names; the internal destination addresses of alerts naming no destination host",
		func(s *selectors) *[]string { return &s.InternalDstHosts }},
	{"c2_dst_ips", yieldAddrs, false, "external destination addresses of the alerts whose category is c2 (the C2 servers)",
		func(s *selectors) *[]string { return &s.C2DstIPs }},
	{"c2_src_hosts", yieldHosts, true, "internal_src_hosts of the alerts whose category is c2 (the beaconing hosts)",
		func(s *selectors) *[]string { return &s.C2SrcHosts }},
	{"domains", yieldNames, false, "domain names, any role",
		func(s *selectors) *[]string { return &s.Domains }},
	{"devices", yieldNames, true, "network device names, any role (routers, switches)",
		func(s *selectors) *[]string { return &s.Devices }},
	{"interfaces", yieldNames, true, "interface names (device:interface), any role",
		func(s *selectors) *[]string { return &s.Interfaces }},
}

func lookupSelector(name string) *selector {
	for _, s := range selectorTable {
		if s.name == name {
			return s
		}
	}
	return nil
}

// selectAll computes every selector over the incident's entities and its alerts'.
func (e *engine) selectAll(inc *model.Incident, alerts []*model.Alert) map[string][]string {
	all := [][]model.Entity{inc.Entities}
	var c2 [][]model.Entity
	for _, a := range alerts {
		if a == nil {
			continue
		}
		all = append(all, a.Entities)
		if a.Category == model.CategoryC2 {
			c2 = append(c2, a.Entities)
		}
	}
	if len(c2) == 0 && inc.Category == model.CategoryC2 {
		c2 = [][]model.Entity{inc.Entities}
	}
	return map[string][]string{
		"external_src_ips":   e.addrs(all, model.RoleSrc, false),
		"external_dst_ips":   e.addrs(all, model.RoleDst, false),
		"internal_src_ips":   e.addrs(all, model.RoleSrc, true),
		"internal_dst_ips":   e.addrs(all, model.RoleDst, true),
		"internal_src_hosts": e.hosts(all, model.RoleSrc),
		"internal_dst_hosts": e.hosts(all, model.RoleDst),
		"c2_dst_ips":         e.addrs(c2, model.RoleDst, false),
		"c2_src_hosts":       e.hosts(c2, model.RoleSrc),
		"domains":            names(all, model.EntityDomain),
		"devices":            names(all, model.EntityDevice),
		"interfaces":         names(all, model.EntityInterface),
	}
}

// external reports whether a is a global unicast address outside the internal
// networks. Loopback, link-local, multicast and unspecified addresses are neither
// internal nor external unless the internal networks name them.
func (e *engine) external(a netip.Addr) bool { return a.IsGlobalUnicast() && !e.isInternal(a) }

func (e *engine) addrs(units [][]model.Entity, role model.Role, internal bool) []string {
	var out []string
	for _, u := range units {
		for _, en := range u {
			if en.Kind != model.EntityIP || en.Role != role {
				continue
			}
			a, ok := parseAddr(en.Value)
			if !ok {
				continue
			}
			if internal && e.isInternal(a) || !internal && e.external(a) {
				out = append(out, a.String())
			}
		}
	}
	return sortTargets(out)
}

// hosts takes, from each unit (an alert, or the incident), the host names with
// the role, or the unit's internal addresses with the role when it names no host.
func (e *engine) hosts(units [][]model.Entity, role model.Role) []string {
	var out []string
	for _, u := range units {
		n := len(out)
		for _, en := range u {
			if en.Kind == model.EntityHost && en.Role == role && en.Value != "" {
				out = append(out, strings.ToLower(en.Value))
			}
		}
		if len(out) > n {
			continue
		}
		for _, en := range u {
			if en.Kind != model.EntityIP || en.Role != role {
				continue
			}
			if a, ok := parseAddr(en.Value); ok && e.isInternal(a) {
				out = append(out, a.String())
			}
		}
	}
	return sortTargets(out)
}

func names(units [][]model.Entity, kind model.EntityKind) []string {
	var out []string
	for _, u := range units {
		for _, en := range u {
			if en.Kind == kind && en.Value != "" {
				out = append(out, en.Value)
			}
		}
	}
	return sortTargets(out)
}

// sortTargets sorts and deduplicates in place: addresses and prefixes first, in
// address order, then other values in byte order.
func sortTargets(v []string) []string {
	slices.SortFunc(v, compareTargets)
	return slices.Compact(v)
}

func compareTargets(x, y string) int {
	px, okx := targetPrefix(x)
	py, oky := targetPrefix(y)
	switch {
	case okx && oky:
		if c := px.Addr().Compare(py.Addr()); c != 0 {
			return c
		}
		if c := px.Bits() - py.Bits(); c != 0 {
			return c
		}
	case okx:
		return -1
	case oky:
		return 1
	}
	return strings.Compare(x, y)
}

// targetPrefix reads "192.0.2.7", "192.0.2.7/32" or "2001:db8::1/128" as a prefix.
func targetPrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p, true
	}
	a, ok := parseAddr(s)
	if !ok {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// Propose returns the playbook's actions with their exact targets for this
// incident: one proposal per action and target, deduplicated, in action order then
// target order. Block and unblock targets are single-address prefixes
// ("203.0.113.45/32", "2001:db8::7/128"); anything broader, and any value that is not
// an address, is left out. Unless the action allows internal targets, addresses in
// the internal networks are left out. An action whose when condition is false, or
// fails to evaluate, is left out; an auto action becomes a request for approval when
// its auto_when is false or it has more targets than auto_max_targets.
func (p *Playbook) Propose(inc *model.Incident, alerts []*model.Alert) []Proposal {
	if inc == nil {
		return nil
	}
	e := p.eng
	in := e.input(inc, alerts)
	var out []Proposal
	for i := range p.Actions {
		a := &p.Actions[i]
		if a.when != nil {
			ok, err := a.when.evalBool(in)
			if err != nil {
				e.log.Warn("playbook action condition failed", "playbook", p.ID, "action", a.ID, "err", err)
			}
			if !ok {
				continue
			}
		}
		var raw []string
		if a.selector != nil {
			raw = in.sel[a.selector.name]
		} else {
			v, err := a.targets.evalStrings(in)
			if err != nil {
				e.log.Warn("playbook action targets failed", "playbook", p.ID, "action", a.ID, "err", err)
				continue
			}
			raw = v
		}
		targets := e.normalizeTargets(a, raw)
		if len(targets) == 0 {
			continue
		}
		auto := a.Auto
		if auto && a.autoWhen != nil {
			ok, err := a.autoWhen.evalBool(in)
			if err != nil {
				e.log.Warn("playbook auto_when failed", "playbook", p.ID, "action", a.ID, "err", err)
			}
			auto = ok
		}
		if auto && len(targets) > a.AutoMaxTargets {
			auto = false
		}
		for _, t := range targets {
			out = append(out, Proposal{
				Playbook: p.ID, ActionID: a.ID, Kind: a.Kind, Target: t, Connector: a.Connector,
				TTL: a.TTL, Approval: a.Approval.clone(), Auto: auto,
			})
		}
	}
	return out
}

// maxTargetLen bounds a target's length (a DNS name is at most 253 characters).
const maxTargetLen = 255

// normalizeTargets canonicalizes, filters, deduplicates and sorts one action's targets.
func (e *engine) normalizeTargets(act *Action, raw []string) []string {
	block := act.Kind == KindBlockIP || act.Kind == KindUnblockIP
	out := make([]string, 0, len(raw))
	for _, s := range raw {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > maxTargetLen || strings.ContainsFunc(s, isSpaceOrControl) {
			continue
		}
		p, isAddr := targetPrefix(s)
		if !isAddr {
			if !block {
				out = append(out, s)
			}
			continue
		}
		a := p.Addr().Unmap()
		internal := e.isInternal(a)
		switch {
		case p.Bits() != p.Addr().BitLen():
			continue // broader than one address
		case !a.IsGlobalUnicast() && !internal:
			continue // loopback, link-local, multicast, unspecified
		case internal && !act.AllowInternal:
			continue
		}
		if block {
			out = append(out, netip.PrefixFrom(a, a.BitLen()).String())
		} else {
			out = append(out, a.String())
		}
	}
	return sortTargets(out)
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func (ap Approval) clone() Approval {
	ap.Roles = slices.Clone(ap.Roles)
	return ap
}
