package panos

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/warroom/warroom/connectors"
)

// commitPoll is the pause between two reads of a commit job's status.
const commitPoll = 2 * time.Second

// objectFor returns the name of warroom's address object for p and the
// ip-netmask value it holds: warroom-203.0.113.7 (203.0.113.7),
// warroom-2001-db8--7 (2001:db8::7), warroom-198.51.100.0_24 (198.51.100.0/24).
func (f *Firewall) objectFor(p netip.Prefix) (name, value string) {
	value = p.String()
	if p.IsSingleIP() {
		value = p.Addr().String()
	}
	return f.cfg.ObjectPrefix + strings.NewReplacer(":", "-", "/", "_").Replace(value), value
}

func (f *Firewall) vsysXPath() string {
	return "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='" + f.cfg.Vsys + "']"
}

func (f *Firewall) objectXPath(name string) string {
	return f.vsysXPath() + "/address/entry[@name='" + name + "']"
}

func (f *Firewall) groupXPath() string {
	return f.vsysXPath() + "/address-group/entry[@name='" + f.cfg.AddressGroup + "']"
}

// configEntry is an address or address-group entry as type=config get/show
// return it.
type configEntry struct {
	Name   string `xml:"name,attr"`
	Static *struct {
		Members []string `xml:"member"`
	} `xml:"static"`
	Dynamic *struct {
		Filter string `xml:"filter"`
	} `xml:"dynamic"`
	IPNetmask   string `xml:"ip-netmask"`
	IPRange     string `xml:"ip-range"`
	FQDN        string `xml:"fqdn"`
	Description string `xml:"description"`
}

// members returns the static members, trimmed.
func (e *configEntry) members() []string {
	if e == nil || e.Static == nil {
		return nil
	}
	out := make([]string, 0, len(e.Static.Members))
	for _, m := range e.Static.Members {
		out = append(out, strings.TrimSpace(m))
	}
	return out
}

type configAnswer struct {
	XMLName xml.Name      `xml:"response"`
	Status  string        `xml:"status,attr"`
	Entries []configEntry `xml:"result>entry"`
}

// parseEntry reads a type=config get or show answer and returns the entry named
// name, or nil when the answer holds none (get answers an absent node with an
// empty result).
func parseEntry(body []byte, name string) (*configEntry, error) {
	var a configAnswer
	if err := xml.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	if a.Status != "success" {
		return nil, fmt.Errorf("answer status %q", a.Status)
	}
	for i := range a.Entries {
		if a.Entries[i].Name == name {
			return &a.Entries[i], nil
		}
	}
	return nil, nil
}

// readEntry reads one entry from the candidate (action=get) or running
// (action=show) configuration; nil when it does not exist.
func (f *Firewall) readEntry(ctx context.Context, action, xpath, name string) (*configEntry, error) {
	body, err := f.call(ctx, url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}}, "config "+action)
	var ve *vendorError
	if errors.As(err, &ve) && ve.code == "7" {
		return nil, nil // "No such node"
	}
	if err != nil {
		return nil, err
	}
	e, err := parseEntry(body, name)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("panos %s: reading %s from %s: %w", f.name, name, f.endpoint, err))
	}
	return e, nil
}

// setConfig sends action=set of element under xpath.
func (f *Firewall) setConfig(ctx context.Context, xpath, element string) error {
	_, err := f.call(ctx, url.Values{"type": {"config"}, "action": {"set"}, "xpath": {xpath}, "element": {element}}, "config set")
	return err
}

// deleteConfig sends action=delete of xpath; a node that is already gone is not an
// error.
func (f *Firewall) deleteConfig(ctx context.Context, xpath string) error {
	_, err := f.call(ctx, url.Values{"type": {"config"}, "action": {"delete"}, "xpath": {xpath}}, "config delete")
	var ve *vendorError
	if errors.As(err, &ve) && ve.code == "7" {
		return nil
	}
	return err
}

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// candidateGroup reads the configured group from the candidate configuration and
// checks it is a static group.
func (f *Firewall) candidateGroup(ctx context.Context) (*configEntry, error) {
	g, err := f.readEntry(ctx, "get", f.groupXPath(), f.cfg.AddressGroup)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, connectors.Permanent(fmt.Errorf("panos %s: address group %s does not exist in %s; create it as a static group (with a placeholder member) and use it in a deny rule", f.name, f.cfg.AddressGroup, f.cfg.Vsys))
	}
	if g.Static == nil {
		return nil, connectors.Permanent(fmt.Errorf("panos %s: address group %s in %s is not a static group; mode address_group needs a static one (mode tag works with dynamic groups)", f.name, f.cfg.AddressGroup, f.cfg.Vsys))
	}
	return g, nil
}

// groupChange adds (block) or removes (unblock) warroom's object for p in the
// address group and commits. The running configuration decides whether anything is
// to do, so a repeat changes nothing and commits nothing.
func (f *Firewall) groupChange(ctx context.Context, req connectors.Request, add bool) (connectors.Result, error) {
	f.op.Lock()
	defer f.op.Unlock()
	p := req.Target.Prefix
	name, value := f.objectFor(p)
	res := connectors.Result{Reference: f.cfg.Vsys + " address-group " + f.cfg.AddressGroup + " member " + name}
	running, err := f.readEntry(ctx, "show", f.groupXPath(), f.cfg.AddressGroup)
	if err != nil {
		return connectors.Result{}, err
	}
	inRunning := slices.Contains(running.members(), name)
	if add && inRunning {
		res.Detail = fmt.Sprintf("%s (%s) is already in address group %s in %s", name, p, f.cfg.AddressGroup, f.cfg.Vsys)
		return res, nil
	}
	cand, err := f.candidateGroup(ctx)
	if err != nil {
		return connectors.Result{}, err
	}
	inCand := slices.Contains(cand.members(), name)
	obj, err := f.readEntry(ctx, "get", f.objectXPath(name), name)
	if err != nil {
		return connectors.Result{}, err
	}
	var changes []string
	edited := false // the candidate configuration was changed
	if add {
		if obj != nil {
			if have, ok := parseValue(obj.IPNetmask); !ok || have != p {
				return connectors.Result{}, connectors.Permanent(fmt.Errorf("panos %s: address object %s exists in %s with %s, not %s; rename or delete it", f.name, name, f.cfg.Vsys, describeObject(obj), value))
			}
		} else {
			el := "<ip-netmask>" + xmlText(value) + "</ip-netmask><description>blocked by warroom</description>"
			if err := f.setConfig(ctx, f.objectXPath(name), el); err != nil {
				return connectors.Result{}, fmt.Errorf("creating address object %s: %w", name, err)
			}
			changes = append(changes, fmt.Sprintf("created address object %s (%s)", name, value))
			edited = true
		}
		if !inCand {
			if err := f.setConfig(ctx, f.groupXPath()+"/static", "<member>"+xmlText(name)+"</member>"); err != nil {
				return connectors.Result{}, fmt.Errorf("adding %s to address group %s: %w", name, f.cfg.AddressGroup, err)
			}
			edited = true
		}
		changes = append(changes, fmt.Sprintf("added it to address group %s in %s", f.cfg.AddressGroup, f.cfg.Vsys))
	} else {
		if !inRunning && !inCand && obj == nil {
			res.Detail = fmt.Sprintf("%s (%s) is not in address group %s in %s; nothing to remove", name, p, f.cfg.AddressGroup, f.cfg.Vsys)
			return res, nil
		}
		if inCand {
			if len(cand.members()) == 1 {
				return connectors.Result{}, connectors.Permanent(fmt.Errorf("panos %s: removing %s would leave address group %s empty, which PAN-OS does not commit; add a placeholder member (for example an object for 192.0.2.255) to the group", f.name, name, f.cfg.AddressGroup))
			}
			if err := f.deleteConfig(ctx, f.groupXPath()+"/static/member[text()='"+name+"']"); err != nil {
				return connectors.Result{}, fmt.Errorf("removing %s from address group %s: %w", name, f.cfg.AddressGroup, err)
			}
			changes = append(changes, fmt.Sprintf("removed %s (%s) from address group %s in %s", name, p, f.cfg.AddressGroup, f.cfg.Vsys))
			edited = true
		}
		if obj != nil {
			err := f.deleteConfig(ctx, f.objectXPath(name))
			var ve *vendorError
			switch {
			case errors.As(err, &ve) && (ve.code == "10" || strings.Contains(ve.msg, "cannot be deleted because of references")):
				changes = append(changes, fmt.Sprintf("kept address object %s: it is still used elsewhere", name))
				f.log.Warn("panos: address object still referenced; kept", "object", name, "vsys", f.cfg.Vsys)
			case err != nil:
				return connectors.Result{}, fmt.Errorf("deleting address object %s: %w", name, err)
			default:
				changes = append(changes, "deleted address object "+name)
				edited = true
			}
		}
		if !edited && !inRunning {
			// Only a still-referenced object is left: nothing to commit.
			res.Detail = fmt.Sprintf("%s (%s) is not in address group %s in %s; %s", name, p, f.cfg.AddressGroup, f.cfg.Vsys, strings.Join(changes, "; "))
			return res, nil
		}
	}
	if len(changes) == 0 {
		changes = append(changes, "the candidate configuration already held the change")
	}
	job, err := f.commit(ctx)
	if err != nil {
		return connectors.Result{}, fmt.Errorf("panos %s: the candidate configuration holds the change (%s) but it is not active: %w", f.name, strings.Join(changes, "; "), err)
	}
	changes = append(changes, "committed ("+job+")")
	res.Changed = true
	res.Detail = strings.Join(changes, "; ")
	f.log.Info("panos: address group changed", "action", req.ActionID, "kind", string(req.Kind), "object", name,
		"group", f.cfg.AddressGroup, "vsys", f.cfg.Vsys, "add", add, "commit", job)
	return res, nil
}

func describeObject(e *configEntry) string {
	switch {
	case e.IPNetmask != "":
		return "ip-netmask " + e.IPNetmask
	case e.IPRange != "":
		return "ip-range " + e.IPRange
	case e.FQDN != "":
		return "fqdn " + e.FQDN
	}
	return "another type"
}

// parseValue reads an ip-netmask value ("203.0.113.7", "203.0.113.7/32",
// "2001:db8::/64") into a canonical prefix.
func parseValue(v string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(canonical(v))
	if err != nil {
		return netip.Prefix{}, false
	}
	return connectors.CanonicalPrefix(p), true
}

// commitError is a commit that failed (permanent: the firewall refused the
// configuration) or did not finish within commit_timeout (retryable).
type commitError struct {
	job, status, detail string
	timedOut            bool
	after               time.Duration
}

func (e *commitError) Error() string {
	if e.timedOut {
		return fmt.Sprintf("commit job %s is still %s after %s (commit_timeout); it may yet finish", e.job, e.status, connectors.FormatDuration(e.after))
	}
	s := fmt.Sprintf("commit job %s failed", e.job)
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s + "; fix the configuration on the firewall (the change waits in the candidate configuration)"
}

// commitScope describes the commit for messages: "partial commit for admin x" or
// "full commit".
func (f *Firewall) commitScope() string {
	if f.commitAdmin != "" {
		return "partial commit for admin " + f.commitAdmin
	}
	return "full commit"
}

// commit commits the candidate configuration (only commitAdmin's changes when set)
// and follows the job until it finishes or commit_timeout passes. It returns
// "job N".
func (f *Firewall) commit(ctx context.Context) (string, error) {
	params := url.Values{"type": {"commit"}, "cmd": {"<commit></commit>"}}
	if f.commitAdmin != "" {
		params.Set("action", "partial")
		params.Set("cmd", "<commit><partial><admin><member>"+xmlText(f.commitAdmin)+"</member></admin></partial></commit>")
	}
	body, err := f.call(ctx, params, "commit")
	if err != nil {
		return "", err
	}
	var ca struct {
		Job string `xml:"result>job"`
	}
	var ar apiResponse
	_ = parseAnswer(body, &ar)
	if err := parseAnswer(body, &ca); err != nil || strings.TrimSpace(ca.Job) == "" {
		msg := f.snippet(ar.message(), nil)
		return "", connectors.Permanent(fmt.Errorf("the %s started no job%s; check that commit_admin names the administrator the API key belongs to", f.commitScope(), msg))
	}
	return f.awaitJob(ctx, strings.TrimSpace(ca.Job))
}

// jobAnswer is the answer to <show><jobs><id>N</id></jobs></show>.
type jobAnswer struct {
	XMLName xml.Name `xml:"response"`
	Jobs    []job    `xml:"result>job"`
}

type job struct {
	ID       string `xml:"id"`
	Type     string `xml:"type"`
	Status   string `xml:"status"`
	Result   string `xml:"result"`
	Progress string `xml:"progress"`
	Details  inner  `xml:"details"`
}

// parseJob reads a show-jobs answer and returns job id.
func parseJob(body []byte, id string) (job, error) {
	var a jobAnswer
	if err := xml.Unmarshal(body, &a); err != nil {
		return job{}, err
	}
	for _, j := range a.Jobs {
		if strings.TrimSpace(j.ID) == id {
			j.Status, j.Result = strings.TrimSpace(j.Status), strings.TrimSpace(j.Result)
			return j, nil
		}
	}
	return job{}, fmt.Errorf("the answer lists no job %s", id)
}

// awaitJob polls the job until it finishes (FIN) or commit_timeout passes on the
// connector's clock.
func (f *Firewall) awaitJob(ctx context.Context, id string) (string, error) {
	start := f.clock.Now()
	deadline := start.Add(f.cfg.CommitTimeout)
	cmd := "<show><jobs><id>" + xmlText(id) + "</id></jobs></show>"
	for {
		body, err := f.call(ctx, url.Values{"type": {"op"}, "cmd": {cmd}}, "show jobs")
		if err != nil {
			return "", fmt.Errorf("reading commit job %s: %w", id, err)
		}
		j, err := parseJob(body, id)
		if err != nil {
			return "", connectors.Permanent(fmt.Errorf("reading commit job %s: %w", id, err))
		}
		if j.Status == "FIN" {
			if j.Result == "OK" {
				return "job " + id, nil
			}
			detail := f.snippet(innerText(j.Details.XML), nil)
			return "", connectors.Permanent(&commitError{job: id, status: j.Status, detail: strings.TrimPrefix(detail, ": ")})
		}
		now := f.clock.Now()
		if !now.Before(deadline) {
			return "", connectors.Temporary(&commitError{job: id, status: j.Status, timedOut: true, after: now.Sub(start)})
		}
		if err := f.wait(ctx, min(commitPoll, deadline.Sub(now))); err != nil {
			return "", connectors.Temporary(fmt.Errorf("waiting for commit job %s: %w", id, err))
		}
	}
}

// verifyGroup reads the group back from the running configuration.
func (f *Firewall) verifyGroup(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	p := req.Target.Prefix
	name, _ := f.objectFor(p)
	running, err := f.readEntry(ctx, "show", f.groupXPath(), f.cfg.AddressGroup)
	if err != nil {
		return connectors.Verification{}, err
	}
	v := connectors.Verification{Observed: true, CheckedAt: f.clock.Now()}
	present := slices.Contains(running.members(), name)
	switch {
	case running == nil:
		v.Detail = fmt.Sprintf("address group %s is not in the running configuration of %s", f.cfg.AddressGroup, f.cfg.Vsys)
	case present:
		v.Detail = fmt.Sprintf("address group %s in %s holds %s (%s) in the running configuration", f.cfg.AddressGroup, f.cfg.Vsys, name, p)
	default:
		v.Detail = fmt.Sprintf("address group %s in %s does not hold %s (%s) in the running configuration", f.cfg.AddressGroup, f.cfg.Vsys, name, p)
	}
	v.InPlace = present == (req.Kind == connectors.BlockIP)
	return v, nil
}

// describeGroup is the preview of an address-group change.
func (f *Firewall) describeGroup(p netip.Prefix, add bool) []string {
	name, value := f.objectFor(p)
	commit := fmt.Sprintf("commit (%s) and wait up to %s (%s)", f.commitScope(), connectors.FormatDuration(f.cfg.CommitTimeout), f.endpoint)
	if add {
		return []string{
			fmt.Sprintf("create address object %s (%s) in %s unless it exists", name, value, f.cfg.Vsys),
			fmt.Sprintf("add %s to address group %s", name, f.cfg.AddressGroup),
			commit,
		}
	}
	return []string{
		fmt.Sprintf("remove %s from address group %s in %s", name, f.cfg.AddressGroup, f.cfg.Vsys),
		"delete address object " + name,
		commit,
	}
}

// readyGroup is Ready's probe in address_group mode: the group read from the
// candidate configuration.
func (f *Firewall) readyGroup(ctx context.Context) (string, error) {
	g, err := f.candidateGroup(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s answers; static address group %s in %s has %d member(s); commit permission is checked when an action runs",
		f.endpoint, f.cfg.AddressGroup, f.cfg.Vsys, len(g.members())), nil
}

// innerText gathers the text of an XML fragment, one part per text node.
func innerText(fragment string) string {
	d := xml.NewDecoder(strings.NewReader("<m>" + fragment + "</m>"))
	var parts []string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if t, ok := tok.(xml.CharData); ok {
			if s := strings.TrimSpace(string(t)); s != "" {
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, " ")
}
