package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/warroom/warroom/internal/loadgen"
)

const benchUsage = `usage: warroom bench ingest [flags]

Posts distinct alerts to a running warroom (or to Alertmanager, for comparison) over
keep-alive connections and reports alerts/s, requests/s, latency percentiles and errors.

Flags:
`

// benchIngest runs the load generator: warroom bench ingest --target warroom --url URL ...
func benchIngest(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	target := fs.String("target", "warroom", "server kind: warroom or alertmanager")
	base := fs.String("url", "", "server base URL (default http://127.0.0.1:8080 for warroom, http://127.0.0.1:9093 for alertmanager)")
	source := fs.String("source", "", "warroom source name (default: the format's name)")
	format := fs.String("format", "generic", "warroom body format: generic or suricata")
	tokenEnv := fs.String("token-env", "WARROOM_INGEST_TOKEN", "environment variable holding the source's ingest token")
	apiTokenEnv := fs.String("api-token-env", "WARROOM_API_TOKEN", "environment variable holding an API token (for --readable-sample)")
	concurrency := fs.Int("concurrency", 16, "connections, each sending one request at a time")
	batch := fs.Int("batch", 1, "alerts per request")
	duration := fs.Duration("duration", 20*time.Second, "length of the measured phase (0 with --requests: no time limit)")
	requests := fs.Int("requests", 0, "stop after this many requests (0: run for --duration)")
	warmup := fs.Duration("warmup", 0, "load sent before measuring, not counted")
	incidents := fs.Int("incidents", 10, "campaigns the alerts group into")
	victims := fs.Int("victims", 4, "hosts per campaign")
	repeat := fs.Bool("repeat", false, "send the same alerts over and over instead of distinct ones")
	severity := fs.String("severity", "", "severity of every alert instead of its campaign's (generic format): low keeps incidents quiet")
	readable := fs.Int("readable-sample", 0, "requests to follow until their incident is readable through the API (warroom only)")
	readableTimeout := fs.Duration("readable-timeout", 5*time.Second, "give up on a sampled request after this long")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see warroom bench ingest -h", fs.Arg(0))
	}
	cfg := loadgen.Config{
		Target: loadgen.Target(*target), URL: *base, Source: *source, Format: loadgen.Format(*format),
		Concurrency: *concurrency, Batch: *batch, Duration: *duration, Requests: *requests, Warmup: *warmup,
		Incidents: *incidents, Victims: *victims, Repeat: *repeat, Severity: *severity, ReadableSample: *readable, ReadableTimeout: *readableTimeout,
	}
	if cfg.URL == "" {
		cfg.URL = "http://127.0.0.1:8080"
		if cfg.Target == loadgen.TargetAlertmanager {
			cfg.URL = "http://127.0.0.1:9093"
		}
	}
	if *requests > 0 && !flagSet(fs, "duration") {
		cfg.Duration = 0
	}
	if cfg.Target == loadgen.TargetWarroom {
		cfg.Token = os.Getenv(*tokenEnv)
		if cfg.Token == "" {
			return fmt.Errorf("$%s is empty: export the ingest token of source %q (or name another variable with --token-env)", *tokenEnv, sourceName(cfg))
		}
		if cfg.ReadableSample > 0 {
			cfg.APIToken = os.Getenv(*apiTokenEnv)
			if cfg.APIToken == "" {
				return fmt.Errorf("$%s is empty: --readable-sample reads alerts and incidents back and needs an API token", *apiTokenEnv)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if rep != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if perr := enc.Encode(rep); perr != nil {
				return perr
			}
		} else if perr := rep.Print(stdout); perr != nil {
			return perr
		}
	}
	if err != nil {
		return fmt.Errorf("bench ingest: %w", err)
	}
	return nil
}

func sourceName(c loadgen.Config) string {
	if c.Source != "" {
		return c.Source
	}
	return string(c.Format)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
