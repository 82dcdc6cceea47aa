package store

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

func TestBackupCopiesConsistentSnapshotWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, filepath.Join(dir, "warroom.db"), Options{})
	ctx := context.Background()
	for i := range 20 {
		insertAlerts(t, s, benchAlerts(100, i*100)...)
		appendAudit(t, s, &model.AuditEntry{Actor: "system", Action: "test", Subject: "batch"})
	}

	// Keep writing while the backup runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := s.Submit(ctx, func(tx Tx) error {
				a := testAlert(i)
				a.ID = tx.NextAlertID()
				if err := tx.InsertAlerts([]*model.Alert{a}); err != nil {
					return err
				}
				return tx.AppendAudit(&model.AuditEntry{Actor: "system", Action: "alert", Subject: "x"})
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	dest := filepath.Join(dir, "backup.db")
	err := s.Backup(ctx, dest)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}

	b := openTest(t, dest, Options{})
	n, err := b.VerifyAudit(ctx)
	if err != nil || n < 20 {
		t.Fatalf("backup audit: %d entries, %v", n, err)
	}
	list, _, err := b.Alerts(ctx, AlertFilter{Limit: 1000})
	if err != nil || len(list) < 1000 {
		t.Fatalf("backup holds %d alerts (%v), want at least the 2000 written before it began", len(list), err)
	}
	// Every alert in the backup is intact and in the source too.
	for _, a := range list[:10] {
		orig, err := s.Alert(ctx, a.ID)
		if err != nil || orig.Fingerprint != a.Fingerprint {
			t.Fatalf("alert %d in backup does not match the source (%v)", a.ID, err)
		}
	}

	if err := s.Backup(ctx, dest); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v, want refused", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Backup(cctx, filepath.Join(dir, "cancelled.db")); err == nil {
		t.Fatal("backup with a cancelled context succeeded")
	}
}
