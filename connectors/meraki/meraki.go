// Package meraki blocks addresses on Cisco Meraki MX appliances through the Meraki
// Dashboard API v1: it keeps a cidr policy object per blocked address in a policy
// object group (NetworkObjectGroup) that the organization's firewall rules deny, and
// reads the group back to verify. The dashboard pushes the change to the appliances
// itself; there is nothing to deploy.
package meraki

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
	"github.com/warroom/warroom/internal/clock"
)

// Sample is an example configuration, documented key by key.
//
//go:embed sample.yaml
var Sample []byte

func init() { connectors.Register("meraki", factory) }

func factory(raw []byte, env connectors.Env) (connectors.Connector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return New(cfg, env)
}

// doer is the one method of *http.Client the connector calls.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

var _ doer = (*http.Client)(nil)

// Meraki is a configured organization and policy object group.
type Meraki struct {
	name          string
	cfg           Config
	base          string // https://api.meraki.com/api/v1
	org           string // base + /organizations/{id}
	http          doer
	clock         clock.Clock
	log           *slog.Logger
	sim           *connectors.Simulation
	deleteObjects bool
	key           connectors.Secret

	op sync.Mutex // one group change at a time: GET then PUT must not interleave

	mu      sync.Mutex
	groupID string
}

var _ connectors.Connector = (*Meraki)(nil)

// New returns the connector described by cfg, reading its API key through env.
func New(cfg Config, env connectors.Env) (*Meraki, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	client, err := vendorhttp.ConnectorClient("meraki", "the Dashboard API", vendorhttp.Endpoint{
		URL: cfg.BaseURL, CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout}, env)
	if err != nil {
		return nil, err
	}
	return newMeraki(cfg, env, client)
}

func newMeraki(cfg Config, env connectors.Env, client doer) (*Meraki, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "meraki"
	}
	key, err := env.Secret("api_key", cfg.APIKeyEnv, cfg.APIKeyFile)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	c := &Meraki{name: env.Name, cfg: cfg, base: base, org: base + "/organizations/" + url.PathEscape(cfg.OrganizationID),
		http: client, clock: env.Clock, log: env.Logger.With("connector", env.Name),
		deleteObjects: cfg.DeleteObjects == nil || *cfg.DeleteObjects, key: key}
	if cfg.DryRun || env.DryRun {
		c.sim = connectors.NewSimulation(env.Clock)
	}
	return c, nil
}

// Name implements connectors.Connector.
func (c *Meraki) Name() string { return c.name }

// Capabilities returns block_ip and unblock_ip (IPv4 only: policy objects hold
// IPv4 addresses and CIDRs).
func (c *Meraki) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

// objectName is warroom's policy object for p: warroom_203.0.113.7,
// warroom_198.51.100.0_24.
func (c *Meraki) objectName(p netip.Prefix) string {
	s := p.Addr().String()
	if !p.IsSingleIP() {
		s += "_" + strconv.Itoa(p.Bits())
	}
	return c.cfg.ObjectPrefix + s
}

// apiError is an answer with a failure status and the Dashboard's {"errors": [...]}.
type apiError struct {
	Op         string
	Status     int
	Message    string
	RetryAfter time.Duration
	hasAfter   bool
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s answered %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// conflictError is a state warroom will not change on its own.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

func (c *Meraki) classify(err error) error {
	if err == nil {
		return nil
	}
	werr := fmt.Errorf("meraki %s: %w", c.name, err)
	var ae *apiError
	var ce *conflictError
	switch {
	case errors.As(err, &ae):
		switch {
		case vendorhttp.TemporaryStatus(ae.Status):
			return vendorhttp.RetryableAfter(werr, ae.Status, ae.RetryAfter, ae.hasAfter)
		case ae.Status >= 300 && ae.Status < 400:
			return connectors.Permanent(fmt.Errorf("%w; redirects are not followed, point base_url at the organization's API host", werr))
		}
		return connectors.Permanent(werr)
	case errors.As(err, &ce):
		return connectors.Permanent(werr)
	case vendorhttp.CertificateError(err):
		return connectors.Permanent(fmt.Errorf("%w; set ca_file to the CA that signed the server's certificate", werr))
	}
	return connectors.Temporary(werr)
}

func (c *Meraki) clean(s string) string {
	s = vendorhttp.Mask(vendorhttp.Printable(s), c.key.Reveal())
	return vendorhttp.Truncate(strings.TrimSpace(s), 300)
}

// call sends one request to u (an absolute URL under base) and decodes a 2xx JSON
// answer into out. It returns the response headers.
func (c *Meraki) call(ctx context.Context, method, u string, in, out any) (http.Header, error) {
	op := method + " " + strings.TrimPrefix(u, c.base)
	if i := strings.IndexByte(op, '?'); i >= 0 {
		op = op[:i]
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s: encoding the request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-meraki/1 warroom")
	if in != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if c.cfg.AuthHeader == "x-cisco-meraki-api-key" {
		hreq.Header.Set("X-Cisco-Meraki-API-Key", c.key.Reveal())
	} else {
		hreq.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, vendorhttp.RedactURL(u), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &apiError{Op: op, Status: resp.StatusCode}
		var eb struct {
			Errors []string `json:"errors"`
		}
		if json.Unmarshal(raw, &eb) == nil && len(eb.Errors) > 0 {
			ae.Message = strings.Join(eb.Errors, "; ")
		} else {
			ae.Message = string(raw)
		}
		ae.Message = c.clean(ae.Message)
		if d, ok := vendorhttp.RetryAfter(resp.Header.Get("Retry-After"), c.clock.Now()); ok {
			ae.RetryAfter, ae.hasAfter = d, true
		}
		return nil, ae
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, &apiError{Op: op, Status: resp.StatusCode, Message: "the answer is not the documented JSON: " + err.Error()}
		}
	}
	return resp.Header, nil
}

// nextLink returns the rel=next URL of a Link header, if it stays on the API host.
func (c *Meraki) nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.Contains(strings.NewReplacer(" ", "", `"`, "").Replace(params), "rel=next") {
				continue
			}
			target = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(target), "<"), ">")
			nu, err := url.Parse(target)
			bu, _ := url.Parse(c.base)
			if err != nil || nu.Scheme != bu.Scheme || nu.Host != bu.Host {
				return ""
			}
			return nu.String()
		}
	}
	return ""
}

// list GETs every page of a collection into items.
func list[T any](ctx context.Context, c *Meraki, first string) ([]T, error) {
	var all []T
	u := first
	for pages := 0; u != "" && pages < 1000; pages++ {
		var page []T
		h, err := c.call(ctx, http.MethodGet, u, nil, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		u = c.nextLink(h)
	}
	return all, nil
}

type policyObject struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	CIDR     string   `json:"cidr"`
	GroupIDs []string `json:"groupIds"`
}

// prefix returns what a cidr object covers.
func (o policyObject) prefix() (netip.Prefix, bool) {
	if o.Type != "cidr" {
		return netip.Prefix{}, false
	}
	if a, err := netip.ParseAddr(o.CIDR); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(o.CIDR)
	return connectors.CanonicalPrefix(p), err == nil
}

type policyGroup struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	ObjectIDs []string `json:"objectIds"`
}

// getGroup finds the configured group (by name, then cached by id) and reads it.
func (c *Meraki) getGroup(ctx context.Context) (*policyGroup, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		id := c.groupID
		c.mu.Unlock()
		if id == "" {
			groups, err := list[policyGroup](ctx, c, c.org+"/policyObjects/groups?perPage=1000")
			if err != nil {
				return nil, fmt.Errorf("looking up policy object group %s: %w", c.cfg.Group, err)
			}
			for _, g := range groups {
				if g.Name == c.cfg.Group {
					id = g.ID
				}
			}
			if id == "" {
				return nil, &conflictError{msg: fmt.Sprintf("policy object group %s does not exist in organization %s; create it and deny it in the firewall rules", c.cfg.Group, c.cfg.OrganizationID)}
			}
			c.mu.Lock()
			c.groupID = id
			c.mu.Unlock()
		}
		var g policyGroup
		_, err := c.call(ctx, http.MethodGet, c.org+"/policyObjects/groups/"+url.PathEscape(id), nil, &g)
		var ae *apiError
		if attempt == 0 && errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			c.mu.Lock()
			c.groupID = ""
			c.mu.Unlock()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("policy object group %s: %w", c.cfg.Group, err)
		}
		return &g, nil
	}
}

// state reads the group and the organization's policy objects, and returns the
// group, warroom's object for p (in the group or not), and a group member covering
// exactly p, if any.
func (c *Meraki) state(ctx context.Context, p netip.Prefix) (g *policyGroup, own, member *policyObject, err error) {
	g, err = c.getGroup(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	objs, err := list[policyObject](ctx, c, c.org+"/policyObjects?perPage=5000")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listing policy objects: %w", err)
	}
	name := c.objectName(p)
	for i, o := range objs {
		if o.Name == name {
			own = &objs[i]
		}
		if op, ok := o.prefix(); ok && op == p && slices.Contains(g.ObjectIDs, o.ID) && (member == nil || o.Name == name) {
			member = &objs[i]
		}
	}
	return g, own, member, nil
}

func needIPv4(p netip.Prefix) error {
	if !p.Addr().Is4() {
		return connectors.Permanent(fmt.Errorf("meraki: %s: policy objects hold IPv4 addresses and CIDRs only; block IPv6 another way", p))
	}
	return nil
}

// Execute applies the request: block_ip adds the address to the group, unblock_ip
// removes it.
func (c *Meraki) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Result{}, err
	}
	if err := needIPv4(req.Target.Prefix); err != nil {
		return connectors.Result{}, err
	}
	if c.sim != nil {
		d, err := c.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return c.sim.Execute(req, d), nil
	}
	return c.apply(ctx, req, req.Kind == connectors.BlockIP)
}

// Revert undoes Execute(req).
func (c *Meraki) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Result{}, err
	}
	if err := needIPv4(req.Target.Prefix); err != nil {
		return connectors.Result{}, err
	}
	add := req.Kind != connectors.BlockIP
	if c.sim != nil {
		return c.sim.Revert(req, connectors.Diff{Changes: c.changes(req.Target.Prefix, add)}), nil
	}
	return c.apply(ctx, req, add)
}

func (c *Meraki) apply(ctx context.Context, req connectors.Request, add bool) (connectors.Result, error) {
	c.op.Lock()
	defer c.op.Unlock()
	res, err := c.change(ctx, req.Target.Prefix, add)
	if err != nil {
		return connectors.Result{}, c.classify(err)
	}
	c.log.Info("meraki: applied", "action", req.ActionID, "kind", string(req.Kind), "target", req.Target.String(), "changed", res.Changed)
	return res, nil
}

func (c *Meraki) change(ctx context.Context, p netip.Prefix, add bool) (connectors.Result, error) {
	g, own, member, err := c.state(ctx, p)
	if err != nil {
		return connectors.Result{}, err
	}
	name := c.objectName(p)
	inGroup := own != nil && member != nil && member.ID == own.ID
	switch {
	case add && member != nil:
		return connectors.Result{Reference: member.ID, Detail: fmt.Sprintf("%s is already in policy object group %s as %s", p, g.Name, member.Name)}, nil
	case !add && !inGroup && member != nil:
		return connectors.Result{}, &conflictError{msg: fmt.Sprintf("%s is in policy object group %s as %s, which warroom did not create; remove it in the dashboard", p, g.Name, member.Name)}
	case !add && !inGroup:
		return connectors.Result{Detail: fmt.Sprintf("%s is not in policy object group %s; nothing to remove", p, g.Name)}, nil
	}
	groupURL := c.org + "/policyObjects/groups/" + url.PathEscape(g.ID)
	if add {
		if own != nil {
			if op, ok := own.prefix(); !ok || op != p {
				return connectors.Result{}, &conflictError{msg: fmt.Sprintf("policy object %s exists with cidr %q, not %s; rename or delete it", name, own.CIDR, p)}
			}
			ids := append(slices.Clone(g.ObjectIDs), own.ID)
			if _, err := c.call(ctx, http.MethodPut, groupURL, map[string]any{"objectIds": ids}, nil); err != nil {
				return connectors.Result{}, fmt.Errorf("adding %s to policy object group %s: %w", name, g.Name, err)
			}
			return connectors.Result{Changed: true, Reference: own.ID, Detail: fmt.Sprintf("added %s (%s) to policy object group %s", name, p, g.Name)}, nil
		}
		var created policyObject
		in := map[string]any{"name": name, "category": "network", "type": "cidr", "cidr": p.String(), "groupIds": []string{g.ID}}
		if _, err := c.call(ctx, http.MethodPost, c.org+"/policyObjects", in, &created); err != nil {
			return connectors.Result{}, fmt.Errorf("creating policy object %s: %w", name, err)
		}
		return connectors.Result{Changed: true, Reference: created.ID, Detail: fmt.Sprintf("created policy object %s (%s) in group %s", name, p, g.Name)}, nil
	}
	ids := slices.DeleteFunc(slices.Clone(g.ObjectIDs), func(id string) bool { return id == own.ID })
	if _, err := c.call(ctx, http.MethodPut, groupURL, map[string]any{"objectIds": ids}, nil); err != nil {
		return connectors.Result{}, fmt.Errorf("removing %s from policy object group %s: %w", name, g.Name, err)
	}
	detail := fmt.Sprintf("removed %s (%s) from policy object group %s", name, p, g.Name)
	if c.deleteObjects {
		if _, err := c.call(ctx, http.MethodDelete, c.org+"/policyObjects/"+url.PathEscape(own.ID), nil, nil); err != nil {
			return connectors.Result{}, fmt.Errorf("the address left the group, but deleting policy object %s failed: %w", name, err)
		}
		detail += "; deleted policy object " + name
	}
	return connectors.Result{Changed: true, Reference: own.ID, Detail: detail}, nil
}

// Verify reads the group and the policy objects back.
func (c *Meraki) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Verification{}, err
	}
	if err := needIPv4(req.Target.Prefix); err != nil {
		return connectors.Verification{}, err
	}
	if c.sim != nil {
		return c.sim.Verify(req), nil
	}
	p := req.Target.Prefix
	g, _, member, err := c.state(ctx, p)
	if err != nil {
		return connectors.Verification{}, c.classify(err)
	}
	v := connectors.Verification{Observed: true, CheckedAt: c.clock.Now()}
	if member != nil {
		v.Detail = fmt.Sprintf("policy object group %s holds %s as %s", g.Name, p, member.Name)
	} else {
		v.Detail = fmt.Sprintf("policy object group %s does not hold %s", g.Name, p)
	}
	v.InPlace = (member != nil) == (req.Kind == connectors.BlockIP)
	return v, nil
}

func (c *Meraki) changes(p netip.Prefix, add bool) []string {
	name := c.objectName(p)
	if add {
		return []string{fmt.Sprintf("create policy object %s (cidr %s) in group %s unless the group holds %s", name, p, c.cfg.Group, p)}
	}
	out := []string{fmt.Sprintf("remove %s from policy object group %s", name, c.cfg.Group)}
	if c.deleteObjects {
		out = append(out, "delete policy object "+name)
	}
	return out
}

// Preview lists what Execute would change, without contacting the dashboard.
func (c *Meraki) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Diff{}, err
	}
	if err := needIPv4(req.Target.Prefix); err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: c.changes(req.Target.Prefix, req.Kind == connectors.BlockIP)}, nil
}

// Ready reads the group: an answer at all (reachable), not 401 (authenticated), the
// group found and readable (permitted).
func (c *Meraki) Ready(ctx context.Context) connectors.Readiness {
	g, err := c.getGroup(ctx)
	r := connectors.Readiness{Reachable: connectors.Passed, Authenticated: connectors.Passed, Permitted: connectors.Passed}
	var ae *apiError
	switch {
	case err == nil:
		r.Message = fmt.Sprintf("policy object group %s has %d object(s)", g.Name, len(g.ObjectIDs))
	case errors.As(err, &ae) && ae.Status >= 500:
		// The server answers but is not serving the API.
		r = connectors.Readiness{Reachable: connectors.Failed, Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked, Message: c.classify(err).Error()}
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		r.Authenticated, r.Permitted = connectors.Failed, connectors.Unchecked
		r.Message = c.classify(err).Error()
	case errors.As(err, &ae) || errors.As(err, new(*conflictError)):
		r.Permitted = connectors.Failed
		r.Message = c.classify(err).Error()
	default:
		r = connectors.Readiness{Reachable: connectors.Failed, Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked, Message: c.classify(err).Error()}
	}
	if c.sim != nil {
		r.Message += "; dry run"
	}
	return r
}
