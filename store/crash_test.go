package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

const crashEnv = "WARROOM_STORE_CRASH_DB"

// TestCrashHelperProcess is the child of TestCrashKeepsEveryCommittedAlert: it writes
// alerts and audit entries from several goroutines until it is killed, printing each
// alert id once Submit has returned nil for it.
func TestCrashHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("runs only as the child of TestCrashKeepsEveryCommittedAlert")
	}
	s, err := OpenSQLite(context.Background(), path, Options{indexEvery: 7})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				alerts := benchAlerts(1+i%3, w*1_000_000+i*3)
				for k, a := range alerts {
					a.IncidentID = int64(1 + (w+i+k)%5)
				}
				err := s.Submit(context.Background(), func(tx Tx) error {
					for _, a := range alerts {
						a.ID = tx.NextAlertID()
					}
					if err := tx.InsertAlerts(alerts); err != nil {
						return err
					}
					return tx.AppendAudit(&model.AuditEntry{Actor: "ingest", Action: "alert.accept", Subject: strconv.FormatInt(alerts[0].ID, 10)})
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				var b []byte
				for _, a := range alerts {
					b = fmt.Appendf(b, "id %d\n", a.ID)
				}
				mu.Lock()
				os.Stdout.Write(b) // unbuffered: once written, the parent may rely on it
				mu.Unlock()
			}
		}()
	}
	select {} // until SIGKILL
}

// TestCrashKeepsEveryCommittedAlert kills a writing process with SIGKILL and checks
// that every alert it had been told was committed is in the database after reopening,
// and that the audit chain still verifies.
func TestCrashKeepsEveryCommittedAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "warroom.db")
	for round := range 2 { // the second round restarts on the recovered database
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		sc := bufio.NewScanner(out)
		killed := false
		for sc.Scan() {
			line := sc.Text()
			v, ok := strings.CutPrefix(line, "id ")
			if !ok {
				continue
			}
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			ids = append(ids, id)
			if len(ids) >= 3000 && !killed {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true // keep reading: lines written before the kill count too
			}
		}
		if !killed {
			t.Fatalf("round %d: child exited after %d ids: %v", round, len(ids), cmd.Wait())
		}
		cmd.Wait()

		s, err := OpenSQLite(context.Background(), path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		ctx := context.Background()
		for _, id := range ids {
			if _, err := s.Alert(ctx, id); err != nil {
				s.Close()
				t.Fatalf("round %d: alert %d was reported committed but is missing after SIGKILL: %v", round, id, err)
			}
		}
		n, err := s.VerifyAudit(ctx)
		if err != nil {
			s.Close()
			t.Fatalf("round %d: audit chain after SIGKILL: %v", round, err)
		}
		if n == 0 {
			t.Fatalf("round %d: no audit entries", round)
		}
		checkIncidentAlerts(t, path)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d committed alerts confirmed, %d audit entries verified", round, len(ids), n)
	}
}
