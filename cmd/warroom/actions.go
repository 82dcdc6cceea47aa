package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/triage/model"
)

const actionsUsage = `usage:
  warroom actions list INCIDENT                                     list an incident's actions
  warroom actions show ID                                           one action and what it would change
  warroom actions propose INCIDENT KIND TARGET [--ttl 24h] [--connector edl] [--note TEXT] [--dry-run]
  warroom actions approve|execute|revert ID                         as the API token's identity
  warroom actions reject ID [--reason TEXT]
(each also takes --config FILE, --server URL, --db PATH)`

// actionsCmd is `warroom actions ...`: the actions API from the command line, acting
// as the identity of the configuration's first API token that resolves.
func actionsCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(actionsUsage)
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("actions "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ttl := fs.String("ttl", "", "how long the change lasts, e.g. 24h (propose)")
	connector := fs.String("connector", "", "the connector to run it (propose; default edl when it can)")
	note := fs.String("note", "", "why (propose)")
	dryRun := fs.Bool("dry-run", false, "record what would change without changing anything (propose)")
	reason := fs.String("reason", "", "why (reject)")
	c, _, err := client(fs, flagsFirst(fs, rest, "config", "server", "db"))
	if err != nil {
		return fmt.Errorf("%w\n%s", err, actionsUsage)
	}
	ctx := context.Background()
	pos := fs.Args()
	need := func(n int) error {
		if len(pos) != n {
			return errors.New(actionsUsage)
		}
		return nil
	}
	id := func() (int64, error) {
		if err := need(1); err != nil {
			return 0, err
		}
		v, err := strconv.ParseInt(strings.TrimPrefix(pos[0], "#"), 10, 64)
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("action id %q: want a positive number as listed by `warroom actions list`", pos[0])
		}
		return v, nil
	}
	switch sub {
	case "list":
		if err := need(1); err != nil {
			return err
		}
		list, err := c.Actions(ctx, pos[0])
		if err != nil {
			return err
		}
		return printActions(stdout, list)
	case "show":
		v, err := id()
		if err != nil {
			return err
		}
		a, err := c.Action(ctx, v)
		if err != nil {
			return err
		}
		printAction(stdout, a)
		if a.State == model.ActionProposed || a.State == model.ActionApproved || a.State == model.ActionFailed {
			p, err := c.PreviewAction(ctx, v)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "would change now:\n  %s\n", strings.Join(p.Changes, "\n  "))
		}
		return nil
	case "propose":
		if err := need(3); err != nil {
			return err
		}
		a, err := c.ProposeAction(ctx, pos[0], api.ProposeRequest{Kind: pos[1], Target: pos[2], TTL: *ttl,
			Connector: *connector, Note: *note, DryRun: *dryRun})
		if err != nil {
			return err
		}
		printAction(stdout, a)
		return nil
	case "approve", "reject", "execute", "revert":
		v, err := id()
		if err != nil {
			return err
		}
		var a *model.Action
		switch sub {
		case "approve":
			a, err = c.ApproveAction(ctx, v)
		case "reject":
			a, err = c.RejectAction(ctx, v, *reason)
		case "execute":
			a, err = c.ExecuteAction(ctx, v)
		case "revert":
			a, err = c.RevertAction(ctx, v)
		}
		if err != nil {
			return err
		}
		printAction(stdout, a)
		return nil
	}
	return fmt.Errorf("unknown actions command %q\n%s", sub, actionsUsage)
}

// flagsFirst moves flags ahead of positional arguments, so `propose INC-1 block_ip
// 203.0.113.7 --ttl 2h` parses like `propose --ttl 2h INC-1 block_ip 203.0.113.7`. A
// flag takes the next argument as its value unless it is boolean or written name=value;
// valued names flags defined later (by client).
func flagsFirst(fs *flag.FlagSet, args []string, valued ...string) []string {
	takesValue := func(name string) bool {
		for _, v := range valued {
			if v == name {
				return true
			}
		}
		f := fs.Lookup(name)
		if f == nil {
			return false
		}
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		return !ok || !b.IsBoolFlag()
	}
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue(name) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(append(flags, "--"), pos...)
}

func printActions(w io.Writer, list []*model.Action) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tKIND\tTARGET\tCONNECTOR\tTTL\tREQUESTED BY\tAPPROVALS\tVERIFIED\tDETAIL")
	for _, a := range list {
		detail := a.Diff
		if a.Error != "" {
			detail = "error: " + a.Error
		} else if a.Result != "" {
			detail = a.Result
		}
		state := string(a.State)
		if a.PendingReview {
			state += " (review: keep or release)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, state, a.Kind, a.Target, a.Connector,
			ttlText(a.TTL), a.RequestedBy, approvals(a), yesNo(a.Verified), detail)
	}
	return tw.Flush()
}

func printAction(w io.Writer, a *model.Action) {
	fmt.Fprintf(w, "action %d on %s: %s %s via %s, ttl %s\n", a.ID, model.IncidentNumber(a.IncidentID), a.Kind, a.Target, a.Connector, ttlText(a.TTL))
	state := string(a.State)
	if a.PendingReview {
		state += ", ran automatically: keep (approve) or release (revert)"
	}
	fmt.Fprintf(w, "state %s, requested by %s at %s, approvals %s\n", state, a.RequestedBy, a.RequestedAt.UTC().Format(time.RFC3339), approvals(a))
	if a.Playbook != "" {
		fmt.Fprintf(w, "playbook %s, action %s\n", a.Playbook, a.PlaybookAction)
	}
	if a.Note != "" {
		fmt.Fprintf(w, "note: %s\n", a.Note)
	}
	fmt.Fprintf(w, "change: %s\n", a.Diff)
	if a.Result != "" {
		fmt.Fprintf(w, "result: %s\n", a.Result)
	}
	if a.Verification != "" {
		fmt.Fprintf(w, "verified %s: %s\n", yesNo(a.Verified), a.Verification)
	}
	if a.Error != "" {
		fmt.Fprintf(w, "error: %s\n", a.Error)
	}
	if a.ExpiresAt != nil && a.State == model.ActionSucceeded {
		fmt.Fprintf(w, "rolled back automatically at %s\n", a.ExpiresAt.UTC().Format(time.RFC3339))
	}
}

func ttlText(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return connectors.FormatDuration(d)
}

func approvals(a *model.Action) string {
	names := make([]string, 0, len(a.Approvals))
	for _, ap := range a.Approvals {
		names = append(names, ap.By)
	}
	n := a.Policy.Approvers
	s := fmt.Sprintf("%d/%d", len(names), n)
	if len(names) > 0 {
		s += " " + strings.Join(names, ",")
	}
	if a.Policy.TwoPerson {
		s += " (two-person)"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// checkResponse prints the integration-readiness table of the configured connectors
// and checks the playbooks, for `warroom check`. A connector that cannot be built or
// a playbook that does not load is an error.
func checkResponse(stdout io.Writer, cfg *config.Config) error {
	log := slog.New(slog.DiscardHandler)
	conns, closeConns, err := app.Connectors(cfg, clock.Real{}, log, nil)
	if err != nil {
		return err
	}
	defer closeConns()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCONNECTOR\tTYPE\tCAN\tREACHABLE\tAUTHENTICATED\tPERMITTED\tDETAIL")
	notReady := 0
	for _, c := range cfg.Connectors {
		conn := conns[c.Name]
		r := conn.Ready(ctx)
		if !r.OK() {
			notReady++
		}
		kinds := make([]string, 0, 4)
		for _, k := range conn.Capabilities() {
			kinds = append(kinds, string(k))
		}
		typ := c.Type
		if c.DryRun {
			typ += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, typ, strings.Join(kinds, ","), r.Reachable, r.Authenticated, r.Permitted, r.Message)
	}
	if len(cfg.Connectors) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\tno containment is possible; add a connector")
	}
	tw.Flush()
	set, err := playbooks.LoadWith(playbooks.Options{Dir: cfg.Playbooks.Dir, InternalNetworks: cfg.Playbooks.Networks(),
		MaxTTL: time.Duration(cfg.Playbooks.MaxTTL), MaxAutoTargets: cfg.Playbooks.MaxAutoTargets})
	if err != nil {
		return fmt.Errorf("playbooks: %w", err)
	}
	list := set.List()
	fmt.Fprintf(stdout, "\nplaybooks: %d loaded", len(list))
	if cfg.Playbooks.Dir != "" {
		fmt.Fprintf(stdout, " (built-ins and %s)", cfg.Playbooks.Dir)
	}
	fmt.Fprintln(stdout)
	var missing []string
	for _, p := range list {
		for _, a := range p.Actions {
			if _, ok := conns[a.Connector]; !ok {
				missing = append(missing, fmt.Sprintf("  %s/%s uses connector %q, which is not configured: its proposals will be refused", p.ID, a.ID, a.Connector))
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		fmt.Fprintln(stdout, m)
	}
	if notReady > 0 {
		fmt.Fprintf(stdout, "\n%d connector(s) not ready: see the table above\n", notReady)
	}
	return nil
}
