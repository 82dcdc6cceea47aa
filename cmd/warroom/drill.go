package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warroom/warroom/drill"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/store"
)

const drillUsage = `usage:
  warroom drill run SCENARIO [--config FILE] [--server URL] [--wait]   start a drill on the running server
  warroom drill report [--since 90d] [--scenario S] [--format text|json|csv|png] [--out FILE] [--config FILE] [--db PATH]
  warroom drill list [--config FILE]                                   the scenarios and the schedules`

func drillCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(drillUsage)
	}
	switch args[0] {
	case "run":
		return drillRun(args[1:], stdout)
	case "report":
		return drillReport(args[1:], stdout, time.Now())
	case "list":
		return drillList(args[1:], stdout, time.Now())
	}
	return fmt.Errorf("unknown drill command %q\n%s", args[0], drillUsage)
}

// parseSince reads a period like 90d, 12h or 2w.
func parseSince(s string) (time.Duration, error) {
	bad := fmt.Errorf("--since %q: write a period like 90d, 2w or 36h", s)
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		v, err := strconv.Atoi(s[:n-1])
		if err != nil || v <= 0 {
			return 0, bad
		}
		unit := 24 * time.Hour
		if s[n-1] == 'w' {
			unit *= 7
		}
		return time.Duration(v) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

func drillRun(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("drill run", flag.ContinueOnError)
	wait := fs.Bool("wait", false, "wait for the run to end and print its measures")
	c, _, err := client(fs, flagsFirst(fs, args, "config", "server", "db"))
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: warroom drill run SCENARIO (see warroom drill list)")
	}
	body, _ := json.Marshal(map[string]string{"scenario": fs.Arg(0)})
	var run store.DrillRun
	if err := drillCall(c.Base, c.APIToken, http.MethodPost, "/api/v1/drills/runs", body, &run); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "drill %s started: scenario %s, timeout %s\n", run.ID, run.Scenario, run.Timeout)
	for *wait && !run.Status.Final() {
		time.Sleep(5 * time.Second) // a remote server's run: polled
		if err := drillCall(c.Base, c.APIToken, http.MethodGet, "/api/v1/drills/runs/"+run.ID, nil, &run); err != nil {
			return err
		}
	}
	if *wait {
		var m *drill.Measures
		if len(run.Measures) > 0 {
			m = &drill.Measures{}
			json.Unmarshal(run.Measures, m)
		}
		fmt.Fprintln(stdout, drill.RunSummary(&run, m))
	}
	return nil
}

func drillCall(base, token, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is warroom serve running? %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, e.Error)
	}
	return json.Unmarshal(b, out)
}

func drillReport(args []string, stdout io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("drill report", flag.ContinueOnError)
	since := fs.String("since", "90d", "the period: 90d, 2w, 36h")
	scenario := fs.String("scenario", "", "one scenario only")
	format := fs.String("format", "text", "text, json, csv or png")
	out := fs.String("out", "", "write to this file instead of standard output")
	open := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected %q\n%s", fs.Arg(0), drillUsage)
	}
	d, err := parseSince(*since)
	if err != nil {
		return err
	}
	switch *format {
	case "text", "json", "csv", "png":
	default:
		return fmt.Errorf("--format %q: want text, json, csv or png", *format)
	}
	if *format == "png" && *out == "" {
		return errors.New("--format png writes an image: name the file with --out ttr.png")
	}
	ctx := context.Background()
	st, _, err := open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := drill.Load(ctx, st, now.Add(-d), now, *scenario)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := rep.Write(&b, *format); err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b.Bytes())
		return err
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", *out, b.Len())
	return nil
}

func drillList(args []string, stdout io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("drill list", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	lib, err := drill.LoadLibrary(cfg.Drills.Dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tPLAYBOOK\tALERTS\tOVER\tSOURCE\tTITLE")
	for _, s := range lib.All() {
		src := "built-in"
		if !s.Builtin {
			src = s.File
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.Name, s.Playbook, len(s.Steps), s.Duration(), src, s.Title)
	}
	tw.Flush()
	if !cfg.Drills.Enabled {
		fmt.Fprintln(stdout, "\ndrills are not enabled (drills.enabled: false): no schedule runs")
		return nil
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tSCENARIO\tCRON\tTIME ZONE\tJITTER\tNEXT (UTC, before jitter)")
	for _, s := range app.DrillSchedules(cfg.Drills) {
		sch, err := s.Parse()
		if err != nil {
			return err
		}
		if _, err := lib.Get(s.Scenario); err != nil {
			return fmt.Errorf("schedule %s: %w", s.Name, err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Scenario, s.Spec, s.Location, s.Jitter,
			sch.Next(now).UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
