// Command warroom is the ChatOps bot for network incident response: it receives alerts,
// groups them into incidents and serves them over a JSON API and chat rooms.
//
//	warroom serve   --config F [--listen ADDR] [--db PATH] [--pprof ADDR]
//	warroom check   --config F
//	warroom alert send --source NAME [--config F] FILE
//	warroom incidents list|show ID [--config F]
//	warroom actions list|show|propose|approve|reject|execute|revert ... [--config F]
//	warroom audit verify [--config F] [--db PATH]
//	warroom drill run|report|list ... [--config F]
//	warroom triage explain INC-0042 [--prompt] [--config F] [--db PATH]
//	warroom version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/store"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

const usage = `warroom: alerts in, incidents out, containment from chat.

Usage:
  warroom serve      --config FILE [--listen ADDR] [--db PATH] [--pprof ADDR]   run the server
  warroom check      --config FILE                               validate a configuration
  warroom alert send --source NAME [--config FILE] FILE          post a file of alerts to a running server
  warroom incidents  list [--status S] | show ID [--config FILE] list or show incidents
  warroom actions    list INC | propose INC KIND TARGET | approve|reject|execute|revert ID
  warroom audit      verify [--config FILE] [--db PATH]          check the audit log's hash chain
  warroom drill      run SCENARIO | report [--since 90d] [--format text|json|csv|png] | list   gap drills
  warroom bench      ingest [flags]                              load-test a running server
  warroom backup     [--config FILE] [--db PATH] DEST            online copy of the database
  warroom triage     explain INC [--prompt] [--config FILE]      print an incident's narrative (and the model's prompt)
  warroom health     [--url URL]                                 ask a running server's /healthz
  warroom version                                                print the version
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "warroom:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stderr)
	case "check":
		return check(rest, stdout)
	case "alert":
		if len(rest) == 0 || rest[0] != "send" {
			return errors.New("usage: warroom alert send --source NAME FILE")
		}
		return alertSend(rest[1:], stdout)
	case "incidents":
		return incidents(rest, stdout)
	case "actions":
		return actionsCmd(rest, stdout)
	case "audit":
		if len(rest) == 0 || rest[0] != "verify" {
			return errors.New("usage: warroom audit verify [--config FILE] [--db PATH]")
		}
		return auditVerify(rest[1:], stdout)
	case "bench":
		if len(rest) == 0 || rest[0] != "ingest" {
			return errors.New("usage: warroom bench ingest [flags] (see warroom bench ingest -h)")
		}
		return benchIngest(rest[1:], stdout)
	case "drill":
		return drillCmd(rest, stdout)
	case "health":
		return health(rest, stdout)
	case "backup":
		return backup(rest, stdout)
	case "triage":
		return triageCmd(rest, stdout)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "warroom %s (commit %s, built %s)\n", version, commit, date)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// loadConfig reads --config, defaulting to config.yaml then config.example.yaml.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		for _, p := range []string{"config.yaml", "config.example.yaml"} {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return nil, errors.New("no --config given and no config.yaml here; copy config.example.yaml")
		}
	}
	return config.Load(path)
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file")
	listen := fs.String("listen", "", "listen address, overrides the config's listen")
	db := fs.String("db", "", "SQLite file, overrides the config's database")
	pprofAddr := fs.String("pprof", "", "serve Go runtime profiles on this loopback address (host:port), off by default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pprofAddr != "" {
		if err := checkPprofAddr(*pprofAddr); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *db != "" {
		cfg.Database = *db
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.MemoryLimitMB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMB) << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		addr, err := listenPprof(ctx, *pprofAddr, a.Log)
		if err != nil {
			a.Close()
			return err
		}
		a.Log.Info("runtime profiles served", "addr", addr.String())
	}
	if len(a.Generated) > 0 {
		abs, _ := filepath.Abs(a.GeneratedPath)
		a.Log.Warn("generated secrets for unset environment variables; the CLI reads them from this file",
			"variables", strings.Join(a.Generated, ","), "file", abs)
	}
	err = a.Serve(ctx, cfg.Listen, func(addr net.Addr) {
		a.Log.Info("warroom listening", "addr", addr.String(), "database", cfg.Database, "version", version)
	})
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		a.Log.Info("warroom stopped cleanly")
	}
	return err
}

func check(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	sec := config.NewSecrets(cfg, os.Getenv)
	secretState := func(s config.Secret) string {
		if s.TokenFile != "" {
			if _, err := os.Stat(s.TokenFile); err != nil {
				return "file " + s.TokenFile + " MISSING"
			}
			return "file " + s.TokenFile
		}
		if _, ok := sec.Lookup(s.TokenEnv); ok {
			return "$" + s.TokenEnv + " set"
		}
		if cfg.GenerateMissingSecrets {
			return "$" + s.TokenEnv + " unset: generated at first start"
		}
		return "$" + s.TokenEnv + " UNSET: serve will refuse to start"
	}
	fmt.Fprintf(stdout, "configuration OK\nlisten %s, database %s\n", cfg.Listen, cfg.Database)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSOURCE\tFORMAT\tENDPOINT\tTOKEN")
	for _, s := range cfg.Sources {
		fmt.Fprintf(tw, "%s\t%s\tPOST /api/v1/ingest/%s\t%s\n", s.Name, s.Format, s.Name, secretState(s.Secret))
	}
	fmt.Fprintln(tw, "\nAPI IDENTITY\tROLE\tTOKEN\t")
	for _, t := range cfg.API.Tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", t.Identity, t.Role, secretState(t.Secret))
	}
	tw.Flush()
	c := cfg.Correlation
	fmt.Fprintf(stdout, "\ncorrelation: window %s, max peers %d, ignore %d entries, notify at %s or %d alerts\n",
		time.Duration(c.Window), c.MaxPeers, len(c.Ignore), c.NotifySeverity, c.NotifyCount)
	return checkResponse(stdout, cfg)
}

// client builds an API client for the server a configuration describes.
func client(fs *flag.FlagSet, args []string) (*api.Client, *config.Config, error) {
	cfgPath := fs.String("config", "", "configuration file (finds the server and its tokens)")
	server := fs.String("server", "", "server base URL (default: from the config's listen)")
	db := fs.String("db", "", "SQLite file whose generated tokens to use (default: the config's database)")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return nil, nil, err
	}
	if *db != "" {
		cfg.Database = *db
	}
	base := *server
	if base == "" {
		base = "http://" + cfg.Listen
	}
	sec := config.NewSecrets(cfg, os.Getenv)
	c := &api.Client{Base: base}
	for _, t := range cfg.API.Tokens {
		if v, ok := lookup(sec, t.Secret); ok {
			c.APIToken = v
			break
		}
	}
	return c, cfg, nil
}

func lookup(sec *config.Secrets, s config.Secret) (string, bool) {
	if s.TokenFile != "" {
		b, err := os.ReadFile(s.TokenFile)
		return strings.TrimSpace(string(b)), err == nil
	}
	return sec.Lookup(s.TokenEnv)
}

func alertSend(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("alert send", flag.ContinueOnError)
	source := fs.String("source", "", "source name from the configuration")
	ctype := fs.String("content-type", "", "Content-Type (default: application/json, or application/x-ndjson for .ndjson files)")
	c, cfg, err := client(fs, args)
	if err != nil {
		return err
	}
	if *source == "" || fs.NArg() != 1 {
		return errors.New("usage: warroom alert send --source NAME FILE")
	}
	var src *config.Source
	for i := range cfg.Sources {
		if cfg.Sources[i].Name == *source {
			src = &cfg.Sources[i]
		}
	}
	if src == nil {
		names := make([]string, 0, len(cfg.Sources))
		for _, s := range cfg.Sources {
			names = append(names, s.Name)
		}
		return fmt.Errorf("no source %q in the configuration; configured: %s", *source, strings.Join(names, ", "))
	}
	tok, ok := lookup(config.NewSecrets(cfg, os.Getenv), src.Secret)
	if !ok {
		return fmt.Errorf("no token for source %q: export %s or start the server once to generate it", src.Name, src.TokenEnv)
	}
	c.IngestToken = tok
	path := fs.Arg(0)
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if *ctype == "" {
		*ctype = "application/json"
		if strings.HasSuffix(path, ".ndjson") || strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".log") {
			*ctype = "application/x-ndjson"
		}
	}
	r, err := c.Ingest(context.Background(), src.Name, *ctype, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "accepted %d (duplicates %d, skipped %d), rejected %d\n", r.Accepted, r.Duplicates, r.Skipped, len(r.Rejected))
	for _, rj := range r.Rejected {
		fmt.Fprintf(stdout, "  element %d: %s\n", rj.Index, rj.Error)
	}
	return nil
}

func incidents(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: warroom incidents list [--status S] | show ID")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("incidents "+sub, flag.ContinueOnError)
	status := fs.String("status", "", "only incidents in this status (list)")
	all := fs.Bool("all", false, "include quiet (not notifiable) incidents (list)")
	c, _, err := client(fs, rest)
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch sub {
	case "list":
		q := url.Values{"limit": {"200"}}
		if *status != "" {
			q.Set("status", *status)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NUMBER\tSTATUS\tSEVERITY\tALERTS\tLAST SEEN\tTITLE")
		for range 1000 {
			l, err := c.Incidents(ctx, q)
			if err != nil {
				return err
			}
			for _, in := range l.Items {
				if !in.Notifiable && !*all {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", in.Number, in.Status, in.Severity, in.AlertCount,
					in.LastSeen.UTC().Format(time.RFC3339), in.Title)
			}
			if l.Next == "" {
				break
			}
			q.Set("cursor", l.Next)
		}
		return tw.Flush()
	case "show":
		if fs.NArg() != 1 {
			return errors.New("usage: warroom incidents show ID")
		}
		d, err := c.Incident(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		in := d.Incident
		fmt.Fprintf(stdout, "%s  %s\nstatus %s, severity %s, category %s, %d alerts, kind %s, notifiable %t\n",
			in.Number, in.Title, in.Status, in.Severity, in.Category, in.AlertCount, in.Kind, in.Notifiable)
		fmt.Fprintf(stdout, "first seen %s, last seen %s, opened %s\n", in.FirstSeen.UTC().Format(time.RFC3339),
			in.LastSeen.UTC().Format(time.RFC3339), in.OpenedAt.UTC().Format(time.RFC3339))
		fmt.Fprintln(stdout, "entities:")
		for _, e := range in.Entities {
			fmt.Fprintf(stdout, "  %-12s %-4s %s\n", e.Kind, e.Role, e.Value)
		}
		fmt.Fprintln(stdout, "timeline:")
		for _, ev := range d.Timeline {
			fmt.Fprintf(stdout, "  %s  %-10s %-8s %s\n", ev.At.UTC().Format(time.RFC3339), ev.Actor, ev.Kind, ev.Text)
		}
		return nil
	}
	return fmt.Errorf("unknown incidents command %q; want list or show", sub)
}

func auditVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	open := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	st, _, err := open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("audit chain broken after %d good entries: %w", n, err)
	}
	fmt.Fprintf(stdout, "audit chain OK: %d entries verified\n", n)
	return nil
}

// storeFlags adds --config and --db to fs and returns a function that opens the
// database they name (the --db file, else the configuration's), which must exist.
func storeFlags(fs *flag.FlagSet) func(context.Context) (*store.SQLite, string, error) {
	cfgPath := fs.String("config", "", "configuration file")
	db := fs.String("db", "", "SQLite file (default: the config's database)")
	return func(ctx context.Context) (*store.SQLite, string, error) {
		path := *db
		if path == "" {
			cfg, err := loadConfig(*cfgPath)
			if err != nil {
				return nil, "", err
			}
			path = cfg.Database
		}
		if _, err := os.Stat(path); err != nil {
			return nil, "", fmt.Errorf("database: %w", err)
		}
		st, err := store.OpenSQLite(ctx, path, store.Options{})
		return st, path, err
	}
}
