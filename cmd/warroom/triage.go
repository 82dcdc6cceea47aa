package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

const triageUsage = "usage: warroom triage explain INC-0042 [--prompt] [--config FILE] [--db PATH]"

// triageCmd runs `warroom triage explain`: the incident's current narrative and,
// with --prompt, the exact prompt a model would get now (after redaction).
func triageCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "explain" {
		return errors.New(triageUsage)
	}
	fs := flag.NewFlagSet("triage explain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "configuration file")
	db := fs.String("db", "", "SQLite file (default: the config's database)")
	prompt := fs.Bool("prompt", false, "also print the prompt that would be sent to the model")
	if err := fs.Parse(flagsFirst(fs, args[1:], "config", "db")); err != nil {
		return fmt.Errorf("%w; %s", err, triageUsage)
	}
	if fs.NArg() != 1 {
		return errors.New(triageUsage)
	}
	id, err := model.ParseIncidentRef(fs.Arg(0))
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *db != "" {
		cfg.Database = *db
	}
	ctx := context.Background()
	if _, err := os.Stat(cfg.Database); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	st, err := store.OpenSQLite(ctx, cfg.Database, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	ex, err := app.Explain(ctx, cfg, st, id)
	if err != nil {
		return fmt.Errorf("%s: %w", model.IncidentNumber(id), err)
	}
	inc := ex.Incident
	fmt.Fprintf(stdout, "%s · %s [%s, %s]\n\n", inc.Number, inc.Title, inc.Severity, inc.Status)
	if n := ex.Stored; n != nil && n.Source == "ai" {
		fmt.Fprintf(stdout, "Narrative (written by %s at %s; %s, %d prompt + %d answer tokens", n.Model,
			n.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), n.Latency.Round(time.Millisecond), n.PromptTokens, n.CompletionTokens)
		if n.Dropped > 0 {
			fmt.Fprintf(stdout, "; validation %s", n.Note)
		}
		fmt.Fprintf(stdout, "):\n%s\n\nTemplate narrative:\n%s\n", n.Text, ex.Template)
	} else {
		fmt.Fprintf(stdout, "Narrative (template):\n%s\n", ex.Template)
	}
	if *prompt {
		state := "not redacted"
		if ex.Redacted {
			state = "redacted: internal addresses, host, device and user names are placeholders"
		}
		if !cfg.AI.Enabled {
			state += "; ai is disabled, so nothing is sent"
		}
		fmt.Fprintf(stdout, "\n--- prompt (%s)\n--- system\n%s\n--- user\n%s\n", state, ex.Prompt.System,
			strings.TrimRight(ex.Prompt.User, "\n"))
	}
	return nil
}
