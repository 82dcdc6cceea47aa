package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/warroom/warroom/store"
)

// health asks a running server's /healthz; the container HEALTHCHECK uses it, since
// the runtime image has no shell or curl.
func health(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	u := fs.String("url", "http://127.0.0.1:8080/healthz", "health endpoint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %d", *u, resp.StatusCode)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// backup copies the database with SQLite's online backup API while the server runs.
func backup(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file")
	db := fs.String("db", "", "SQLite file (default: the config's database)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: warroom backup [--config FILE] [--db PATH] DEST")
	}
	path := *db
	if path == "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		path = cfg.Database
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, path, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", path, fs.Arg(0))
	return nil
}
