package fortigate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/warroom/warroom/connectors"
)

// Address-group mode: every blocked prefix is an address object (firewall address
// or address6) named <object_prefix><address>_<bits>, member of the configured
// address group (addrgrp or addrgrp6) that a deny policy uses.

// FortiOS CMDB error numbers the connector tells apart.
const errDuplicate = -5 // "A duplicate entry already exists"

func (g *FortiGate) groupFor(p netip.Prefix) string {
	if p.Addr().Is6() {
		return g.cfg.Group6
	}
	return g.cfg.Group
}

func tables(p netip.Prefix) (object, group string) {
	if p.Addr().Is6() {
		return "address6", "addrgrp6"
	}
	return "address", "addrgrp"
}

// objectName is the address object for p, e.g. warroom_203.0.113.7_32 or
// warroom_2001-db8--7_128.
func (g *FortiGate) objectName(p netip.Prefix) string {
	return g.cfg.ObjectPrefix + strings.ReplaceAll(p.Addr().String(), ":", "-") + fmt.Sprintf("_%d", p.Bits())
}

func cmdbPath(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "cmdb/firewall/" + strings.Join(parts, "/")
}

// members reads an address group's member names.
func (g *FortiGate) members(ctx context.Context, table, group string) (map[string]bool, error) {
	body, err := g.do(ctx, http.MethodGet, cmdbPath(table, group), nil, "read "+table+" "+group)
	if err != nil {
		return nil, err
	}
	set, err := parseGroup(body)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("fortigate %s: reading %s %s from %s: %w", g.name, table, group, g.endpoint, err))
	}
	return set, nil
}

// parseGroup reads the member names of GET cmdb/firewall/addrgrp/<name>.
func parseGroup(body []byte) (map[string]bool, error) {
	var env struct {
		Status  string `json:"status"`
		Results []struct {
			Member []struct {
				Name string `json:"name"`
			} `json:"member"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	if env.Status != "success" || len(env.Results) != 1 {
		return nil, fmt.Errorf("want one group in the results, got %d (status %q)", len(env.Results), env.Status)
	}
	set := map[string]bool{}
	for _, m := range env.Results[0].Member {
		set[m.Name] = true
	}
	return set, nil
}

// objectBody is the address object for p.
func (g *FortiGate) objectBody(p netip.Prefix, req connectors.Request) map[string]string {
	comment := "warroom " + string(req.Kind)
	if req.ActionID != "" {
		comment += " " + req.ActionID
	}
	if len(comment) > 255 {
		comment = comment[:255]
	}
	if p.Addr().Is6() {
		return map[string]string{"name": g.objectName(p), "type": "ipprefix", "ip6": p.String(), "comment": comment}
	}
	return map[string]string{"name": g.objectName(p), "type": "ipmask", "subnet": subnet(p), "comment": comment}
}

// subnet renders an IPv4 prefix as FortiOS's "address mask".
func subnet(p netip.Prefix) string {
	return p.Addr().String() + " " + net.IP(net.CIDRMask(p.Bits(), 32)).String()
}

// ensureObject creates the address object for p, or checks an existing one of that
// name holds p. It reports whether it created one.
func (g *FortiGate) ensureObject(ctx context.Context, p netip.Prefix, req connectors.Request) (bool, error) {
	table, _ := tables(p)
	name := g.objectName(p)
	body, err := g.do(ctx, http.MethodGet, cmdbPath(table, name), nil, "read "+table+" "+name)
	var se *statusError
	switch {
	case err == nil:
		if !objectHolds(body, p) {
			return false, connectors.Permanent(fmt.Errorf("fortigate %s: %s %s exists in vdom %s but does not hold %s; delete it or change object_prefix", g.name, table, name, g.cfg.VDOM, p))
		}
		return false, nil
	case errors.As(err, &se) && se.status == http.StatusNotFound:
	default:
		return false, err
	}
	_, err = g.do(ctx, http.MethodPost, cmdbPath(table), g.objectBody(p, req), "create "+table+" "+name)
	if errors.As(err, &se) && se.code == errDuplicate {
		return false, nil // created in between
	}
	return err == nil, err
}

// objectHolds reports whether a GET of an address object describes p.
func objectHolds(body []byte, p netip.Prefix) bool {
	var env struct {
		Results []struct {
			Subnet string `json:"subnet"`
			IP6    string `json:"ip6"`
		} `json:"results"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Results) != 1 {
		return false
	}
	r := env.Results[0]
	if p.Addr().Is6() {
		q, err := netip.ParsePrefix(r.IP6)
		return err == nil && q.Masked() == p
	}
	f := strings.Fields(strings.ReplaceAll(r.Subnet, "/", " "))
	return len(f) == 2 && f[0] == p.Addr().String() && f[1] == net.IP(net.CIDRMask(p.Bits(), 32)).String()
}

// join puts p's object in its group.
func (g *FortiGate) join(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	p := req.Target.Prefix
	_, table := tables(p)
	group, name := g.groupFor(p), g.objectName(p)
	res := connectors.Result{Reference: table + " " + group + " member " + name}
	set, err := g.members(ctx, table, group)
	if err != nil {
		return connectors.Result{}, err
	}
	if set[name] {
		res.Detail = fmt.Sprintf("%s (%s) is already in %s %s in vdom %s", name, p, table, group, g.cfg.VDOM)
		return res, nil
	}
	if _, err := g.ensureObject(ctx, p, req); err != nil {
		return connectors.Result{}, err
	}
	_, err = g.do(ctx, http.MethodPost, cmdbPath(table, group, "member"), map[string]string{"name": name}, "add member "+name)
	var se *statusError
	if errors.As(err, &se) && se.code == errDuplicate {
		res.Detail = fmt.Sprintf("%s (%s) joined %s %s in vdom %s meanwhile", name, p, table, group, g.cfg.VDOM)
		return res, nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	res.Changed = true
	res.Detail = fmt.Sprintf("added %s (%s) to %s %s in vdom %s", name, p, table, group, g.cfg.VDOM)
	g.log.Info("fortigate: added to group", "object", name, "group", group, "vdom", g.cfg.VDOM, "action", req.ActionID)
	return res, nil
}

// leave takes p's object out of its group and deletes it. A failed delete of the
// object (still used elsewhere) is logged: the block itself is lifted.
func (g *FortiGate) leave(ctx context.Context, p netip.Prefix) (connectors.Result, error) {
	objTable, table := tables(p)
	group, name := g.groupFor(p), g.objectName(p)
	res := connectors.Result{Reference: table + " " + group + " member " + name}
	set, err := g.members(ctx, table, group)
	if err != nil {
		return connectors.Result{}, err
	}
	if !set[name] {
		res.Detail = fmt.Sprintf("%s (%s) is not in %s %s in vdom %s", name, p, table, group, g.cfg.VDOM)
		return res, nil
	}
	if _, err := g.do(ctx, http.MethodDelete, cmdbPath(table, group, "member", name), nil, "remove member "+name); err != nil {
		return connectors.Result{}, err
	}
	res.Changed = true
	res.Detail = fmt.Sprintf("removed %s (%s) from %s %s in vdom %s", name, p, table, group, g.cfg.VDOM)
	if _, err := g.do(ctx, http.MethodDelete, cmdbPath(objTable, name), nil, "delete "+objTable+" "+name); err != nil {
		g.log.Warn("fortigate: the address object stays", "object", name, "err", err.Error())
		res.Detail += "; the address object stays: " + err.Error()
	}
	g.log.Info("fortigate: removed from group", "object", name, "group", group, "vdom", g.cfg.VDOM)
	return res, nil
}

func (g *FortiGate) verifyGroup(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	p := req.Target.Prefix
	_, table := tables(p)
	group, name := g.groupFor(p), g.objectName(p)
	set, err := g.members(ctx, table, group)
	if err != nil {
		return connectors.Verification{}, err
	}
	v := connectors.Verification{Observed: true, CheckedAt: g.clock.Now(), InPlace: set[name] == (req.Kind == connectors.BlockIP)}
	if set[name] {
		v.Detail = fmt.Sprintf("%s (%s) is in %s %s in vdom %s", name, p, table, group, g.cfg.VDOM)
	} else {
		v.Detail = fmt.Sprintf("%s (%s) is not in %s %s in vdom %s", name, p, table, group, g.cfg.VDOM)
	}
	return v, nil
}

func (g *FortiGate) describeGroup(req connectors.Request, revert bool) string {
	p := req.Target.Prefix
	_, table := tables(p)
	group, name := g.groupFor(p), g.objectName(p)
	if (req.Kind == connectors.BlockIP) == revert {
		return fmt.Sprintf("remove %s (%s) from %s %s in vdom %s and delete it (%s)", name, p, table, group, g.cfg.VDOM, g.endpoint)
	}
	s := fmt.Sprintf("add %s (%s) to %s %s in vdom %s (%s)", name, p, table, group, g.cfg.VDOM, g.endpoint)
	if req.TTL > 0 {
		s += "; address objects have no expiry, warroom removes it after " + connectors.FormatDuration(req.TTL)
	}
	return s
}
