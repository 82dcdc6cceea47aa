package triage

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// Config tunes correlation and notification. Start from DefaultConfig and change what
// you need; Validate says what is wrong with a value.
type Config struct {
	// Window is how far apart in event time two alerts sharing a pivot entity may be
	// and still join one incident. It is measured from the span the entity already
	// covers in the incident, in both directions, so late and replayed alerts
	// correlate like live ones.
	Window time.Duration
	// Retain is how long, beyond Window, correlation state is kept for alerts that
	// arrive late: an entity nobody has mentioned for Window+Retain of wall time
	// leaves memory, and a restart rebuilds state from alerts whose event time is
	// within Window+Retain of the newest one. Fingerprints for deduplication are kept
	// as long.
	Retain time.Duration

	// IgnoreCIDRs and IgnoreEntities name shared infrastructure that never joins
	// alerts together (resolvers, proxies, collectors, CDNs): IP entities inside a
	// prefix, and entities whose value (or "kind:value") is listed. They stay on the
	// alerts and incidents, they just do not pivot.
	IgnoreCIDRs    []netip.Prefix
	IgnoreEntities []string
	// MaxPeers is the automatic guard: an entity seen with more than MaxPeers
	// distinct peers (the parties on the other side of its alerts) within Window is
	// shared infrastructure and stops pivoting, until fewer than MaxPeers/2 remain,
	// except as FanRoles allows.
	MaxPeers int
	// FanRoles lists, per category, the roles in which one entity facing many peers
	// is the shape of the attack itself rather than a sign of shared infrastructure:
	// the victim (dst) of a flood, the source (src) of a sweep. An entity most of
	// whose recent peers come from alerts of such a category in such a role (at
	// PivotSeverity or above) is the centre of a fan-out, an attacker or a victim, and
	// keeps pivoting past MaxPeers.
	FanRoles map[model.Category][]model.Role
	// PivotSeverity is the severity from which an alert may join incidents through
	// the server it talked to (its dst entities, scoped to the alert's category).
	// Below it, an alert between a client and a server says something about the
	// client only: low-severity policy noise through a resolver or a CDN then never
	// glues clients together, even before the peer guard has seen enough traffic to
	// recognise the resolver.
	PivotSeverity model.Severity

	// NotifySeverity and NotifyCount make an incident notifiable (worth a room) once
	// it reaches this severity or this many alerts. Once notifiable, always notifiable.
	NotifySeverity model.Severity
	NotifyCount    int

	// DedupCap bounds how many fingerprints are remembered for deduplication: a
	// repeat is recognised while its original is among the last DedupCap/2 to DedupCap
	// alerts and no older than Window+Retain to twice that. 200,000 fingerprints take
	// about 7 MB; at 50 alerts/s they reach back more than half an hour.
	DedupCap int
	// MaxMembers bounds the distinct parties an incident remembers for its title and
	// counts; past it, counts read "N+".
	MaxMembers int
}

// DefaultConfig returns the defaults: a 30-minute window, 30 minutes of grace for late
// alerts, more than 20 distinct peers in the window before an entity counts as shared
// infrastructure (a campaign's own hosts have a handful; a resolver or a CDN has its
// whole client base), fan-out centres for floods (victim), sweeps and brute force
// (source; brute force also victim), lateral movement (source) and C2 (the C2
// server), dst pivots from medium severity, and incidents notifiable from medium
// severity or 20 alerts.
func DefaultConfig() Config {
	return Config{
		Window:   30 * time.Minute,
		Retain:   30 * time.Minute,
		MaxPeers: 20,
		FanRoles: map[model.Category][]model.Role{
			model.CategoryDoS:        {model.RoleDst},
			model.CategoryScan:       {model.RoleSrc},
			model.CategoryBruteforce: {model.RoleSrc, model.RoleDst},
			model.CategoryLateral:    {model.RoleSrc},
			model.CategoryC2:         {model.RoleDst},
		},
		PivotSeverity:  model.SeverityMedium,
		NotifySeverity: model.SeverityMedium,
		NotifyCount:    20,
		DedupCap:       200_000,
		MaxMembers:     4096,
	}
}

// Validate reports the first invalid field, naming it and what is allowed.
func (c Config) Validate() error {
	switch {
	case c.Window < time.Second:
		return fmt.Errorf("correlation window %s: want at least 1s (default 30m)", c.Window)
	case c.Retain < 0:
		return fmt.Errorf("correlation retain %s: want 0 or more (default 30m)", c.Retain)
	case c.MaxPeers < 2:
		return fmt.Errorf("correlation max peers %d: want 2 or more (default 20)", c.MaxPeers)
	case c.NotifySeverity < model.SeverityInfo || c.NotifySeverity > model.SeverityCritical:
		return fmt.Errorf("notify severity %d: want info, low, medium, high or critical", c.NotifySeverity)
	case c.PivotSeverity > model.SeverityCritical:
		return fmt.Errorf("pivot severity %d: want info, low, medium, high or critical", c.PivotSeverity)
	case c.NotifyCount < 1:
		return fmt.Errorf("notify count %d: want 1 or more (default 20)", c.NotifyCount)
	case c.DedupCap < 1:
		return fmt.Errorf("dedup capacity %d: want 1 or more (default 200000)", c.DedupCap)
	case c.MaxMembers < 1:
		return fmt.Errorf("max members %d: want 1 or more (default 4096)", c.MaxMembers)
	}
	for i, p := range c.IgnoreCIDRs {
		if !p.IsValid() {
			return fmt.Errorf("ignore CIDR %d: invalid prefix; write it like 192.0.2.0/24", i)
		}
	}
	for i, v := range c.IgnoreEntities {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("ignore entity %d: empty; give an entity value such as resolver1 or host:resolver1", i)
		}
	}
	cats := make([]string, 0, len(c.FanRoles))
	for cat := range c.FanRoles {
		cats = append(cats, string(cat))
	}
	sort.Strings(cats)
	for _, cs := range cats {
		if _, err := model.ParseCategory(cs); err != nil {
			return fmt.Errorf("fan roles: %w", err)
		}
		for _, r := range c.FanRoles[model.Category(cs)] {
			if r != model.RoleSrc && r != model.RoleDst {
				return fmt.Errorf("fan roles for %s: role %q: want src or dst", cs, r)
			}
		}
	}
	return nil
}

// ParseIgnore splits a configured ignore list into CIDRs (a prefix like
// 192.0.2.0/24 or a bare IP address, taken as a single-address prefix) and exact
// entity values, for Config.IgnoreCIDRs and Config.IgnoreEntities.
func ParseIgnore(list []string) ([]netip.Prefix, []string, error) {
	var cidrs []netip.Prefix
	var vals []string
	var errs []error
	for i, raw := range list {
		v := strings.TrimSpace(raw)
		switch {
		case v == "":
			errs = append(errs, fmt.Errorf("ignore[%d]: empty; give a CIDR, an IP or an entity value", i))
		case strings.Contains(v, "/"):
			p, err := netip.ParsePrefix(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("ignore[%d]: %q is not a CIDR like 192.0.2.0/24", i, v))
				continue
			}
			cidrs = append(cidrs, p.Masked())
		default:
			if a, err := netip.ParseAddr(v); err == nil {
				a = a.Unmap()
				cidrs = append(cidrs, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			vals = append(vals, v)
		}
	}
	return cidrs, vals, errors.Join(errs...)
}
