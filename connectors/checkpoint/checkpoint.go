// Package checkpoint blocks addresses on Check Point gateways through the Check Point
// Management API (web_api): it keeps one session (login with user and password or an
// API key, X-chkp-sid on every command), adds a host or network object per blocked
// address to a configured network group with set-group, publishes and waits for the
// publish task, optionally installs a policy package, reads the group back to verify,
// and logs out when closed.
package checkpoint

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

func init() { connectors.Register("checkpoint", factory) }

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

// CheckPoint is a configured management server and group.
type CheckPoint struct {
	name          string
	cfg           Config
	base          string // https://host:port/web_api/
	http          doer
	clock         clock.Clock
	log           *slog.Logger
	sim           *connectors.Simulation
	deleteObjects bool
	password      connectors.Secret
	apiKey        connectors.Secret
	// wait pauses between show-task polls; it returns early with ctx's error.
	wait func(ctx context.Context, d time.Duration) error

	op sync.Mutex // one operation at a time on the one session

	mu       sync.Mutex
	sid      string
	sessUID  string   // the session object's uid, for discarding its changes from another session
	staleUID string   // uid of a session that expired, whose unpublished changes may hold locks
	oldSIDs  []string // expired session ids, masked if a server echoes them
}

var (
	_ connectors.Connector       = (*CheckPoint)(nil)
	_ interface{ Close() error } = (*CheckPoint)(nil)
)

// New returns the connector described by cfg, reading its secret through env.
func New(cfg Config, env connectors.Env) (*CheckPoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	client, err := vendorhttp.ConnectorClient("checkpoint", "the management server", vendorhttp.Endpoint{
		URL: cfg.URL, CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout}, env)
	if err != nil {
		return nil, err
	}
	return newCheckPoint(cfg, env, client)
}

func newCheckPoint(cfg Config, env connectors.Env, client doer) (*CheckPoint, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "checkpoint"
	}
	c := &CheckPoint{
		name: env.Name, cfg: cfg, base: strings.TrimRight(cfg.URL, "/") + "/web_api/", http: client,
		clock: env.Clock, log: env.Logger.With("connector", env.Name),
		deleteObjects: cfg.DeleteObjects == nil || *cfg.DeleteObjects,
		wait:          connectors.Sleep,
	}
	var err error
	if cfg.APIKeyEnv != "" || cfg.APIKeyFile != "" {
		if c.apiKey, err = env.Secret("api_key", cfg.APIKeyEnv, cfg.APIKeyFile); err != nil {
			return nil, err
		}
	} else if c.password, err = env.Secret("password", cfg.PasswordEnv, cfg.PasswordFile); err != nil {
		return nil, err
	}
	if cfg.DryRun || env.DryRun {
		c.sim = connectors.NewSimulation(env.Clock)
	}
	return c, nil
}

// Name implements connectors.Connector.
func (c *CheckPoint) Name() string { return c.name }

// Capabilities returns block_ip and unblock_ip.
func (c *CheckPoint) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

// objectName is the name of the object warroom keeps for prefix p:
// warroom_203.0.113.7, warroom_198.51.100.0_24, warroom_2001_db8__1.
func (c *CheckPoint) objectName(p netip.Prefix) string {
	s := p.Addr().String()
	if !p.IsSingleIP() {
		s += "/" + strconv.Itoa(p.Bits())
	}
	return c.cfg.ObjectPrefix + strings.NewReplacer(":", "_", "/", "_").Replace(s)
}

// apiError is an answer other than 200: the status and Check Point's {code, message}.
type apiError struct {
	Command    string
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	hasAfter   bool
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s answered %d", e.Command, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// sessionGone reports whether the session id is no longer valid.
func (e *apiError) sessionGone() bool {
	switch e.Code {
	case "generic_err_wrong_session_id", "generic_err_session_expired", "generic_err_missing_session_id":
		return true
	}
	return false
}

// loginError marks a failure of the login command.
type loginError struct{ err error }

func (e *loginError) Error() string { return e.err.Error() } // names the login command already
func (e *loginError) Unwrap() error { return e.err }

// conflictError is a state warroom will not change on its own.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

// taskError is a publish or installation task that ended badly.
type taskError struct {
	what, id, status, detail string
	timedOut                 bool
}

func (e *taskError) Error() string {
	if e.timedOut {
		return fmt.Sprintf("%s task %s still %q after %s", e.what, e.id, e.status, e.detail)
	}
	s := fmt.Sprintf("%s task %s %s", e.what, e.id, e.status)
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

// classify wraps err with the connector's name and marks it retryable or not.
func (c *CheckPoint) classify(err error) error {
	if err == nil {
		return nil
	}
	werr := fmt.Errorf("checkpoint %s: %w", c.name, err)
	var ae *apiError
	var te *taskError
	var ce *conflictError
	switch {
	case errors.As(err, &ae):
		switch {
		case vendorhttp.TemporaryStatus(ae.Status):
			return vendorhttp.RetryableAfter(werr, ae.Status, ae.RetryAfter, ae.hasAfter)
		case ae.Code == "err_login_failed_more_than_one_opened_session", ae.Code == "generic_err_session_in_use":
			// Another session holds the administrator or the session; it may end.
			return connectors.Temporary(werr)
		}
		return connectors.Permanent(werr)
	case errors.As(err, &te):
		if te.timedOut {
			return connectors.Temporary(werr)
		}
		return connectors.Permanent(werr)
	case errors.As(err, &ce):
		return connectors.Permanent(werr)
	}
	if vendorhttp.CertificateError(err) {
		return connectors.Permanent(fmt.Errorf("%w; set ca_file to the CA that signed the server's certificate", werr))
	}
	// Transport errors: refused, reset, timeouts, the caller's deadline.
	return connectors.Temporary(werr)
}

// mask replaces every secret and session id in s.
func (c *CheckPoint) mask(s string) string {
	c.mu.Lock()
	vals := append([]string{c.sid}, c.oldSIDs...)
	c.mu.Unlock()
	vals = append(vals, c.password.Reveal(), c.apiKey.Reveal())
	return vendorhttp.Mask(s, vals...)
}

// post sends one command. sid is empty for login.
func (c *CheckPoint) post(ctx context.Context, cmd, sid string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encoding the request: %w", cmd, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cmd, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-checkpoint/1")
	if sid != "" {
		hreq.Header.Set("X-chkp-sid", sid)
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
		return fmt.Errorf("%s: POST %s%s: %w", cmd, c.base, cmd, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", cmd, err)
	}
	if resp.StatusCode != http.StatusOK {
		ae := &apiError{Command: cmd, Status: resp.StatusCode}
		var eb struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Errors  []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		if json.Unmarshal(raw, &eb) == nil && (eb.Code != "" || eb.Message != "") {
			ae.Code, ae.Message = eb.Code, eb.Message
			for _, e := range eb.Errors {
				ae.Message += "; " + e.Message
			}
		} else {
			ae.Message = printable(string(raw))
		}
		ae.Code, ae.Message = c.mask(printable(ae.Code)), c.mask(printable(ae.Message))
		if d, ok := vendorhttp.RetryAfter(resp.Header.Get("Retry-After"), c.clock.Now()); ok {
			ae.RetryAfter, ae.hasAfter = d, true
		}
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &apiError{Command: cmd, Status: resp.StatusCode, Code: "invalid_answer", Message: "the answer is not the documented JSON: " + err.Error()}
		}
	}
	return nil
}

func printable(s string) string {
	return vendorhttp.Truncate(strings.TrimSpace(vendorhttp.Printable(s)), 300)
}

// session returns the current session id, logging in when there is none.
func (c *CheckPoint) session(ctx context.Context) (string, error) {
	c.mu.Lock()
	sid := c.sid
	c.mu.Unlock()
	if sid != "" {
		return sid, nil
	}
	in := map[string]any{"session-name": "warroom " + c.name, "session-timeout": int(c.cfg.SessionTimeout / time.Second)}
	if !c.apiKey.IsZero() {
		in["api-key"] = c.apiKey.Reveal()
	} else {
		in["user"], in["password"] = c.cfg.User, c.password.Reveal()
	}
	if c.cfg.Domain != "" {
		in["domain"] = c.cfg.Domain
	}
	var out struct {
		SID string `json:"sid"`
		UID string `json:"uid"`
	}
	if err := c.post(ctx, "login", "", in, &out); err != nil {
		return "", &loginError{err: err}
	}
	if out.SID == "" {
		return "", &loginError{err: &apiError{Command: "login", Status: http.StatusOK, Code: "invalid_answer", Message: "no sid in the answer"}}
	}
	c.mu.Lock()
	c.sid, c.sessUID = out.SID, out.UID
	stale := c.staleUID
	c.staleUID = ""
	c.mu.Unlock()
	c.log.Debug("checkpoint: logged in", "url", vendorhttp.RedactURL(c.cfg.URL))
	if stale != "" {
		// Changes left unpublished in the expired session keep their objects locked
		// until discarded; drop them so this session can change the group.
		var dout struct {
			Discarded int `json:"number-of-discarded-changes"`
		}
		if err := c.post(ctx, "discard", out.SID, map[string]string{"uid": stale}, &dout); err != nil {
			c.log.Warn("checkpoint: discarding the expired session's changes failed", "err", c.mask(err.Error()))
		} else if dout.Discarded > 0 {
			c.log.Info("checkpoint: discarded the expired session's unpublished changes", "changes", dout.Discarded)
		}
	}
	return out.SID, nil
}

// forget drops a session id the server no longer knows.
func (c *CheckPoint) forget(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sid == sid {
		c.sid = ""
		c.staleUID = c.sessUID
	}
	if len(c.oldSIDs) < 16 {
		c.oldSIDs = append(c.oldSIDs, sid)
	}
}

// withSession runs fn with a valid session. When the session turns out to have
// expired, the work done in it is lost with it, so fn runs again from the start in a
// new session (once). The result is classified.
func (c *CheckPoint) withSession(ctx context.Context, fn func(sid string) error) error {
	for attempt := 0; ; attempt++ {
		sid, err := c.session(ctx)
		if err != nil {
			return c.classify(err)
		}
		err = fn(sid)
		var ae *apiError
		if attempt == 0 && errors.As(err, &ae) && ae.sessionGone() {
			c.log.Info("checkpoint: session expired; logging in again")
			c.forget(sid)
			continue
		}
		return c.classify(err)
	}
}

// member is one group member as show-group lists it.
type member struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	IPv4        string `json:"ipv4-address"`
	IPv6        string `json:"ipv6-address"`
	Subnet4     string `json:"subnet4"`
	MaskLength4 *int   `json:"mask-length4"`
	Subnet6     string `json:"subnet6"`
	MaskLength6 *int   `json:"mask-length6"`
}

// prefix returns what the member covers, if it is a host or network.
func (m member) prefix() (netip.Prefix, bool) {
	parse := func(a string, bits *int) (netip.Prefix, bool) {
		ad, err := netip.ParseAddr(a)
		if err != nil {
			return netip.Prefix{}, false
		}
		n := ad.BitLen()
		if bits != nil {
			n = *bits
		}
		p, err := ad.Prefix(n)
		return connectors.CanonicalPrefix(p), err == nil
	}
	switch {
	case m.IPv4 != "":
		return parse(m.IPv4, nil)
	case m.IPv6 != "":
		return parse(m.IPv6, nil)
	case m.Subnet4 != "" && m.MaskLength4 != nil:
		return parse(m.Subnet4, m.MaskLength4)
	case m.Subnet6 != "" && m.MaskLength6 != nil:
		return parse(m.Subnet6, m.MaskLength6)
	}
	return netip.Prefix{}, false
}

func (c *CheckPoint) showGroup(ctx context.Context, sid string) ([]member, error) {
	var out struct {
		Members []member `json:"members"`
	}
	if err := c.post(ctx, "show-group", sid, map[string]string{"name": c.cfg.Group}, &out); err != nil {
		return nil, fmt.Errorf("group %s: %w", c.cfg.Group, err)
	}
	return out.Members, nil
}

// find returns the member named name and any member covering exactly p.
func find(members []member, name string, p netip.Prefix) (own *member, other *member) {
	for i, m := range members {
		if m.Name == name {
			own = &members[i]
		} else if mp, ok := m.prefix(); ok && mp == p && other == nil {
			other = &members[i]
		}
	}
	return own, other
}

// Execute applies the request: block_ip adds the address to the group, unblock_ip
// removes it.
func (c *CheckPoint) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Result{}, err
	}
	if c.sim != nil {
		d, err := c.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return c.sim.Execute(req, d), nil
	}
	return c.apply(ctx, req.Target.Prefix, req.Kind == connectors.BlockIP, req)
}

// Revert undoes Execute(req).
func (c *CheckPoint) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Result{}, err
	}
	add := req.Kind != connectors.BlockIP
	if c.sim != nil {
		return c.sim.Revert(req, connectors.Diff{Changes: c.changes(req.Target.Prefix, add)}), nil
	}
	return c.apply(ctx, req.Target.Prefix, add, req)
}

func (c *CheckPoint) apply(ctx context.Context, p netip.Prefix, add bool, req connectors.Request) (connectors.Result, error) {
	c.op.Lock()
	defer c.op.Unlock()
	name := c.objectName(p)
	kind := "host"
	if !p.IsSingleIP() {
		kind = "network"
	}
	var res connectors.Result
	err := c.withSession(ctx, func(sid string) error {
		members, err := c.showGroup(ctx, sid)
		if err != nil {
			return err
		}
		own, other := find(members, name, p)
		switch {
		case add && (own != nil || other != nil):
			m := own
			if m == nil {
				m = other
			}
			res = connectors.Result{Reference: m.Name, Detail: fmt.Sprintf("%s is already in group %s as %s", p, c.cfg.Group, m.Name)}
			return nil
		case !add && own == nil && other != nil:
			return &conflictError{msg: fmt.Sprintf("%s is in group %s as %s, which warroom did not create; remove it in SmartConsole", p, c.cfg.Group, other.Name)}
		case !add && own == nil:
			res = connectors.Result{Detail: fmt.Sprintf("%s is not in group %s; nothing to remove", p, c.cfg.Group)}
			return nil
		}
		var changes []string
		if add {
			created, err := c.ensureObject(ctx, sid, name, kind, p)
			if err != nil {
				return err
			}
			if created {
				changes = append(changes, fmt.Sprintf("add-%s %s", kind, name))
			}
			if err := c.post(ctx, "set-group", sid, map[string]any{"name": c.cfg.Group, "members": map[string]any{"add": []string{name}}}, nil); err != nil {
				return c.discard(ctx, sid, fmt.Errorf("adding %s to group %s: %w", name, c.cfg.Group, err))
			}
			changes = append(changes, fmt.Sprintf("added %s (%s) to group %s", name, p, c.cfg.Group))
		} else {
			if err := c.post(ctx, "set-group", sid, map[string]any{"name": c.cfg.Group, "members": map[string]any{"remove": []string{name}}}, nil); err != nil {
				return c.discard(ctx, sid, fmt.Errorf("removing %s from group %s: %w", name, c.cfg.Group, err))
			}
			changes = append(changes, fmt.Sprintf("removed %s (%s) from group %s", name, p, c.cfg.Group))
			if c.deleteObjects {
				if err := c.post(ctx, "delete-"+kind, sid, map[string]any{"name": name}, nil); err != nil {
					return c.discard(ctx, sid, fmt.Errorf("deleting %s %s: %w", kind, name, err))
				}
				changes = append(changes, fmt.Sprintf("deleted %s %s", kind, name))
			}
		}
		if err := c.publish(ctx, sid); err != nil {
			return err
		}
		changes = append(changes, "published")
		if c.cfg.PolicyPackage != "" {
			if err := c.install(ctx, sid); err != nil {
				return fmt.Errorf("the change is published but not installed: %w", err)
			}
			changes = append(changes, fmt.Sprintf("installed %s on %s", c.cfg.PolicyPackage, strings.Join(c.cfg.InstallTargets, ", ")))
		}
		res = connectors.Result{Changed: true, Reference: name, Detail: strings.Join(changes, "; ")}
		return nil
	})
	if err != nil {
		return connectors.Result{}, err
	}
	c.log.Info("checkpoint: applied", "action", req.ActionID, "kind", string(req.Kind), "target", p.String(), "changed", res.Changed)
	return res, nil
}

// ensureObject makes sure a host or network named name covering p exists. It
// reports whether it created one.
func (c *CheckPoint) ensureObject(ctx context.Context, sid, name, kind string, p netip.Prefix) (bool, error) {
	var have member
	err := c.post(ctx, "show-"+kind, sid, map[string]string{"name": name}, &have)
	var ae *apiError
	switch {
	case err == nil:
		if hp, ok := have.prefix(); !ok || hp != p {
			return false, &conflictError{msg: fmt.Sprintf("object %s exists but does not describe %s; rename or delete it", name, p)}
		}
		return false, nil
	case errors.As(err, &ae) && ae.Code == "generic_err_object_not_found":
	default:
		return false, fmt.Errorf("looking up %s %s: %w", kind, name, err)
	}
	in := map[string]any{"name": name, "comments": "blocked by warroom", "ignore-warnings": true}
	if kind == "host" {
		in["ip-address"] = p.Addr().String()
	} else {
		in["subnet"], in["mask-length"] = p.Addr().String(), p.Bits()
	}
	if err := c.post(ctx, "add-"+kind, sid, in, nil); err != nil {
		return false, c.discard(ctx, sid, fmt.Errorf("creating %s %s: %w", kind, name, err))
	}
	return true, nil
}

// discard drops the session's unpublished changes after a failure, so it holds no
// locks, and returns the failure.
func (c *CheckPoint) discard(ctx context.Context, sid string, cause error) error {
	var ae *apiError
	if errors.As(cause, &ae) && ae.sessionGone() {
		return cause
	}
	if err := c.post(ctx, "discard", sid, struct{}{}, nil); err != nil {
		c.log.Warn("checkpoint: discarding the session's changes failed", "err", c.mask(err.Error()))
	}
	return cause
}

func (c *CheckPoint) publish(ctx context.Context, sid string) error {
	var out struct {
		TaskID string `json:"task-id"`
	}
	if err := c.post(ctx, "publish", sid, struct{}{}, &out); err != nil {
		return c.discard(ctx, sid, fmt.Errorf("publishing: %w", err))
	}
	if err := c.awaitTask(ctx, sid, "publish", out.TaskID); err != nil {
		var te *taskError
		if errors.As(err, &te) && !te.timedOut {
			return c.discard(ctx, sid, err)
		}
		return err
	}
	return nil
}

func (c *CheckPoint) install(ctx context.Context, sid string) error {
	var out struct {
		TaskID string `json:"task-id"`
	}
	in := map[string]any{"policy-package": c.cfg.PolicyPackage, "access": true, "threat-prevention": false, "targets": c.cfg.InstallTargets}
	if err := c.post(ctx, "install-policy", sid, in, &out); err != nil {
		return fmt.Errorf("installing %s: %w", c.cfg.PolicyPackage, err)
	}
	return c.awaitTask(ctx, sid, "install-policy", out.TaskID)
}

// awaitTask polls show-task until the task succeeds, fails or task_timeout passes.
func (c *CheckPoint) awaitTask(ctx context.Context, sid, what, id string) error {
	if id == "" {
		return &apiError{Command: what, Status: http.StatusOK, Code: "invalid_answer", Message: "no task-id in the answer"}
	}
	polls := int(c.cfg.TaskTimeout / c.cfg.PollInterval)
	status := ""
	for i := 0; ; i++ {
		var out struct {
			Tasks []struct {
				Status   string `json:"status"`
				Comments string `json:"comments"`
				Progress int    `json:"progress-percentage"`
			} `json:"tasks"`
		}
		if err := c.post(ctx, "show-task", sid, map[string]string{"task-id": id}, &out); err != nil {
			return fmt.Errorf("%s task %s: %w", what, id, err)
		}
		if len(out.Tasks) == 0 {
			return &taskError{what: what, id: id, status: "unknown", detail: "show-task listed no task"}
		}
		status = out.Tasks[0].Status
		switch status {
		case "succeeded":
			return nil
		case "failed", "partially succeeded":
			return &taskError{what: what, id: id, status: status, detail: printable(out.Tasks[0].Comments)}
		}
		if i >= polls {
			return &taskError{what: what, id: id, status: status, detail: connectors.FormatDuration(c.cfg.TaskTimeout), timedOut: true}
		}
		if err := c.wait(ctx, c.cfg.PollInterval); err != nil {
			return fmt.Errorf("waiting for %s task %s: %w", what, id, err)
		}
	}
}

// Verify reads the group back.
func (c *CheckPoint) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Verification{}, err
	}
	if c.sim != nil {
		return c.sim.Verify(req), nil
	}
	c.op.Lock()
	defer c.op.Unlock()
	p := req.Target.Prefix
	var members []member
	err := c.withSession(ctx, func(sid string) error {
		var err error
		members, err = c.showGroup(ctx, sid)
		return err
	})
	if err != nil {
		return connectors.Verification{}, err
	}
	own, other := find(members, c.objectName(p), p)
	if own == nil {
		own = other
	}
	v := connectors.Verification{Observed: true, CheckedAt: c.clock.Now()}
	present := own != nil
	if present {
		v.Detail = fmt.Sprintf("group %s holds %s as %s", c.cfg.Group, p, own.Name)
	} else {
		v.Detail = fmt.Sprintf("group %s does not hold %s", c.cfg.Group, p)
	}
	v.InPlace = present == (req.Kind == connectors.BlockIP)
	return v, nil
}

func (c *CheckPoint) changes(p netip.Prefix, add bool) []string {
	name := c.objectName(p)
	kind := "host"
	if !p.IsSingleIP() {
		kind = "network"
	}
	var out []string
	if add {
		out = append(out, fmt.Sprintf("add-%s %s (%s) unless it exists", kind, name, p),
			fmt.Sprintf("set-group %s members add %s", c.cfg.Group, name))
	} else {
		out = append(out, fmt.Sprintf("set-group %s members remove %s", c.cfg.Group, name))
		if c.deleteObjects {
			out = append(out, fmt.Sprintf("delete-%s %s", kind, name))
		}
	}
	out = append(out, "publish")
	if c.cfg.PolicyPackage != "" {
		out = append(out, fmt.Sprintf("install-policy %s on %s", c.cfg.PolicyPackage, strings.Join(c.cfg.InstallTargets, ", ")))
	}
	return out
}

// Preview lists the commands Execute would send, without contacting the server.
func (c *CheckPoint) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: c.changes(req.Target.Prefix, req.Kind == connectors.BlockIP)}, nil
}

// Ready logs in (reachable, authenticated) and reads the group (permitted).
func (c *CheckPoint) Ready(ctx context.Context) connectors.Readiness {
	c.op.Lock()
	defer c.op.Unlock()
	var members []member
	err := c.withSession(ctx, func(sid string) error {
		var err error
		members, err = c.showGroup(ctx, sid)
		return err
	})
	r := connectors.Readiness{Reachable: connectors.Passed, Authenticated: connectors.Passed, Permitted: connectors.Passed}
	var le *loginError
	var ae *apiError
	switch {
	case err == nil:
		who := "user " + c.cfg.User
		if c.cfg.User == "" {
			who = "an API key"
		}
		r.Message = fmt.Sprintf("logged in with %s; group %s has %d member(s)", who, c.cfg.Group, len(members))
	case errors.As(err, &ae) && ae.Status >= 500:
		// The server answers but is not serving the API.
		r = connectors.Readiness{Reachable: connectors.Failed, Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked, Message: err.Error()}
	case errors.As(err, &le) && errors.As(err, &ae):
		r.Authenticated, r.Permitted = connectors.Failed, connectors.Unchecked
		r.Message = err.Error()
	case errors.As(err, &ae):
		r.Permitted = connectors.Failed
		r.Message = err.Error()
		if ae.Code == "generic_err_object_not_found" {
			r.Message = fmt.Sprintf("checkpoint %s: group %s does not exist; create it and use it in the block rule", c.name, c.cfg.Group)
		}
	default:
		r = connectors.Readiness{Reachable: connectors.Failed, Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked, Message: err.Error()}
	}
	if c.sim != nil {
		r.Message += "; dry run"
	}
	return r
}

// Close logs out, ending the session so it does not count against the server's
// limit of concurrent sessions.
func (c *CheckPoint) Close() error {
	c.op.Lock()
	defer c.op.Unlock()
	c.mu.Lock()
	sid := c.sid
	c.sid = ""
	c.mu.Unlock()
	if sid == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	if err := c.post(ctx, "logout", sid, struct{}{}, nil); err != nil {
		return c.classify(fmt.Errorf("logout: %w", err))
	}
	return nil
}
