package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// putIncident writes a minimal incident and returns its id.
func putIncident(t *testing.T, s *SQLite) int64 {
	t.Helper()
	var id int64
	err := s.Submit(context.Background(), func(tx Tx) error {
		id = tx.NextIncidentID()
		return tx.UpsertIncident(&model.Incident{ID: id, Number: model.IncidentNumber(id), Kind: model.KindNormal,
			Status: model.StatusOpen, OpenedAt: t0, UpdatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func fullAction(incident int64) *model.Action {
	return &model.Action{
		IncidentID: incident, Playbook: "ssh-rdp-bruteforce", PlaybookAction: "block-attacker",
		Kind: "block_ip", Target: "203.0.113.7/32", Connector: "edl", TTL: 24 * time.Hour,
		Auto: true, DryRun: true, AllowInternal: true, PendingReview: true, Note: "from the room",
		Policy: model.ApprovalPolicy{Approvers: 2, Roles: []string{"approver", "admin"}, TwoPerson: true, Expires: time.Hour},
		State:  model.ActionSucceeded, RequestedBy: "alice", RequestedAt: t0,
		Approvals:      []model.Approval{{By: "bob", Role: "approver", At: t0.Add(time.Minute)}, {By: "carol", Role: "admin", At: t0.Add(2 * time.Minute)}},
		IdempotencyKey: "k1", Diff: "add 203.0.113.7/32 to EDL warroom-block, timeout 24h", Result: "added",
		Error: "earlier: timeout", Attempts: 2, Verified: true, Verification: "served",
		ExecutedAt: ptr(t0.Add(3 * time.Minute)), ExpiresAt: ptr(t0.Add(24*time.Hour + 3*time.Minute)),
		RevertedAt: ptr(t0.Add(4 * time.Minute)), UpdatedAt: t0.Add(4 * time.Minute),
	}
}

// TestCountActionsByState lists every state, those without actions at 0.
func TestCountActionsByState(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	inc := putIncident(t, s)
	for i, st := range []model.ActionState{model.ActionFailed, model.ActionProposed, model.ActionFailed} {
		a := fullAction(inc)
		a.State, a.IdempotencyKey = st, fmt.Sprintf("count-%d", i)
		if err := s.Submit(ctx, func(tx Tx) error { return tx.PutAction(a) }); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := s.CountActionsByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != len(model.ActionStates) || counts[model.ActionFailed] != 2 || counts[model.ActionProposed] != 1 ||
		counts[model.ActionSucceeded] != 0 {
		t.Fatalf("counts %v", counts)
	}
}

func TestActionRoundTripsEveryField(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	inc := putIncident(t, s)
	a := fullAction(inc)
	var inTx *model.Action
	err := s.Submit(ctx, func(tx Tx) error {
		if err := tx.PutAction(a); err != nil {
			return err
		}
		var err error
		inTx, err = tx.Action(a.ID) // the transaction sees its own write
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != 1 {
		t.Fatalf("first action got id %d, want 1", a.ID)
	}
	if !reflect.DeepEqual(inTx, a) {
		t.Fatalf("read inside the transaction:\n got %+v\nwant %+v", inTx, a)
	}
	got, err := s.Action(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, a)
	}

	// An update replaces every column; nil times and no approvals read back as such.
	upd := &model.Action{ID: a.ID, IncidentID: inc, Kind: "unblock_ip", Target: "203.0.113.8/32", Connector: "nft",
		State: model.ActionProposed, RequestedBy: "bob", RequestedAt: t0, IdempotencyKey: "k2", UpdatedAt: t0,
		Approvals: []model.Approval{}}
	if err := s.Submit(ctx, func(tx Tx) error { return tx.PutAction(upd) }); err != nil {
		t.Fatal(err)
	}
	got, err = s.Action(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, upd) {
		t.Fatalf("after update:\n got %+v\nwant %+v", got, upd)
	}
	if _, err := s.Action(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing action: %v, want ErrNotFound", err)
	}
	err = s.Submit(ctx, func(tx Tx) error {
		_, err := tx.Action(99)
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing action in a transaction: %v, want ErrNotFound", err)
	}
	err = s.Submit(ctx, func(tx Tx) error {
		return tx.PutAction(&model.Action{ID: 99, IncidentID: inc, IdempotencyKey: "k3", State: model.ActionProposed})
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing action: %v, want ErrNotFound", err)
	}
}

func TestPutActionRefusesBadInput(t *testing.T) {
	s := openTest(t, "", Options{})
	inc := putIncident(t, s)
	for name, tc := range map[string]struct {
		a    *model.Action
		want string
	}{
		"nil":         {nil, "store: put action: nil action"},
		"no incident": {&model.Action{IdempotencyKey: "k", State: model.ActionProposed}, "store: put action: incident id 0: every action belongs to an incident"},
		"no key":      {&model.Action{IncidentID: inc, State: model.ActionProposed}, "store: put action: no idempotency key"},
		"no state":    {&model.Action{IncidentID: inc, IdempotencyKey: "k"}, "store: put action: no state"},
		"far future": {&model.Action{IncidentID: inc, IdempotencyKey: "k", State: model.ActionProposed,
			RequestedAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, "store: put action 1: requested_at 2300-01-01T00:00:00Z is outside the storable range 1678..2262"},
	} {
		t.Run(name, func(t *testing.T) {
			err := s.Submit(context.Background(), func(tx Tx) error { return tx.PutAction(tc.a) })
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestIdempotencyKeyIsUnique(t *testing.T) {
	s := openTest(t, "", Options{})
	inc := putIncident(t, s)
	put := func() error {
		return s.Submit(context.Background(), func(tx Tx) error {
			return tx.PutAction(&model.Action{IncidentID: inc, IdempotencyKey: "same", State: model.ActionProposed})
		})
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	if err := put(); err == nil {
		t.Fatal("a second action with the same idempotency key was stored")
	}
}

func TestActionsListDueAndNextExpiry(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	inc, other := putIncident(t, s), putIncident(t, s)
	mk := func(inc int64, key string, state model.ActionState, exp *time.Time) *model.Action {
		return &model.Action{IncidentID: inc, IdempotencyKey: key, State: state, ExpiresAt: exp, Kind: "block_ip"}
	}
	as := []*model.Action{
		mk(inc, "a", model.ActionSucceeded, ptr(t0.Add(2*time.Hour))),
		mk(inc, "b", model.ActionSucceeded, ptr(t0.Add(time.Hour))),
		mk(other, "c", model.ActionSucceeded, ptr(t0.Add(3*time.Hour))),
		mk(inc, "d", model.ActionReverted, ptr(t0)), // not succeeded: never due
		mk(inc, "e", model.ActionProposed, nil),
	}
	if err := s.Submit(ctx, func(tx Tx) error {
		for _, a := range as {
			if err := tx.PutAction(a); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ids := func(l []*model.Action) []int64 {
		out := []int64{}
		for _, a := range l {
			out = append(out, a.ID)
		}
		return out
	}
	list, err := s.Actions(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(list); !reflect.DeepEqual(got, []int64{1, 2, 4, 5}) {
		t.Errorf("actions of the incident: %v, want [1 2 4 5]", got)
	}
	var inTx []*model.Action
	if err := s.Submit(ctx, func(tx Tx) error {
		var err error
		inTx, err = tx.IncidentActions(other)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := ids(inTx); !reflect.DeepEqual(got, []int64{3}) {
		t.Errorf("actions of the other incident in a transaction: %v, want [3]", got)
	}
	due, err := s.ActionsDue(ctx, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(due); !reflect.DeepEqual(got, []int64{2, 1}) {
		t.Errorf("due at +2h: %v, want [2 1] (soonest first, expiry inclusive)", got)
	}
	next, ok, err := s.NextActionExpiry(ctx)
	if err != nil || !ok || !next.Equal(t0.Add(time.Hour)) {
		t.Errorf("next expiry %v %v %v, want %v", next, ok, err, t0.Add(time.Hour))
	}
	succeeded, err := s.ActionsInState(ctx, model.ActionSucceeded)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(succeeded); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Errorf("succeeded actions: %v, want [1 2 3]", got)
	}
	empty, err := s.Actions(ctx, 42)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("actions of an incident without any: %v %v, want an empty list", empty, err)
	}
}

func TestActionCompareAndSetIsSerialised(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	inc := putIncident(t, s)
	a := &model.Action{IncidentID: inc, IdempotencyKey: "cas", State: model.ActionApproved}
	if err := s.Submit(ctx, func(tx Tx) error { return tx.PutAction(a) }); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won := false
			err := s.Submit(ctx, func(tx Tx) error {
				won = false
				cur, err := tx.Action(a.ID)
				if err != nil {
					return err
				}
				if cur.State != model.ActionApproved {
					return nil
				}
				cur.State = model.ActionRunning
				won = true
				return tx.PutAction(cur)
			})
			if err != nil {
				t.Error(err)
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 50 compare-and-sets won, want exactly 1", wins)
	}
}

// TestIncidentReadsCarryTheCommander: the commander a chat command sets is part of
// the incident as read back (by id, in lists and among the live incidents), and the
// correlation engine's later upserts, which do not know it, do not hide it.
func TestIncidentReadsCarryTheCommander(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	inc, other := putIncident(t, s), putIncident(t, s)
	if err := s.Submit(ctx, func(tx Tx) error { return tx.SetIncidentCommander(inc, "slack:U024BE7LH", "slack:U0G9QF9C6", t0) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(ctx, func(tx Tx) error {
		return tx.UpsertIncident(&model.Incident{ID: inc, Number: model.IncidentNumber(inc), Kind: model.KindNormal,
			Status: model.StatusAcknowledged, AlertCount: 9, OpenedAt: t0, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Incident(ctx, inc)
	if err != nil || got.Commander != "slack:U024BE7LH" || got.AlertCount != 9 {
		t.Fatalf("incident: %+v %v", got, err)
	}
	list, _, err := s.Incidents(ctx, IncidentFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	for _, in := range list {
		if want := map[int64]string{inc: "slack:U024BE7LH", other: ""}[in.ID]; in.Commander != want {
			t.Errorf("listed incident %d: commander %q, want %q", in.ID, in.Commander, want)
		}
	}
	live, err := s.LiveIncidents(ctx)
	if err != nil || len(live) != 2 {
		t.Fatalf("live: %d %v", len(live), err)
	}
	for _, in := range live {
		if in.ID == inc && in.Commander != "slack:U024BE7LH" {
			t.Errorf("live incident: commander %q", in.Commander)
		}
	}
}

func TestIncidentPlaybookIsKeptByUpserts(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	inc := putIncident(t, s)
	if err := s.Submit(ctx, func(tx Tx) error { return tx.SetIncidentPlaybook(inc, "port-scan") }); err != nil {
		t.Fatal(err)
	}
	// The correlation engine rewrites the row without knowing the playbook.
	if err := s.Submit(ctx, func(tx Tx) error {
		return tx.UpsertIncident(&model.Incident{ID: inc, Number: model.IncidentNumber(inc), Kind: model.KindNormal,
			Status: model.StatusAcknowledged, OpenedAt: t0, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Incident(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Playbook != "port-scan" || got.Status != model.StatusAcknowledged || got.Commander != "" {
		t.Fatalf("incident after upsert: playbook %q status %s, want port-scan acknowledged", got.Playbook, got.Status)
	}
	// Within one transaction, a new incident is found although its row is buffered.
	var fresh int64
	if err := s.Submit(ctx, func(tx Tx) error {
		fresh = tx.NextIncidentID()
		if err := tx.UpsertIncident(&model.Incident{ID: fresh, Number: model.IncidentNumber(fresh), Kind: model.KindNormal,
			Status: model.StatusOpen, OpenedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.SetIncidentPlaybook(fresh, "ddos")
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Incident(ctx, fresh); err != nil || got.Playbook != "ddos" {
		t.Fatalf("fresh incident: %+v %v", got, err)
	}
	err = s.Submit(ctx, func(tx Tx) error { return tx.SetIncidentPlaybook(999, "ddos") })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("playbook of a missing incident: %v, want ErrNotFound", err)
	}
}

func TestEDLEntriesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	ctx := context.Background()
	e1 := EDLEntry{Prefix: netip.MustParsePrefix("203.0.113.7/32"), ActionID: "7", AddedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	e2 := EDLEntry{Prefix: netip.MustParsePrefix("2001:db8::/64"), ActionID: "8", AddedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
	for _, e := range []EDLEntry{e1, e2} {
		if err := s.PutEDLEntry(ctx, "block", e); err != nil {
			t.Fatal(err)
		}
	}
	e1.ExpiresAt = t0.Add(3 * time.Hour) // replaced, not duplicated
	if err := s.PutEDLEntry(ctx, "block", e1); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEDLEntry(ctx, "other", e2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEDLEntry(ctx, "other", e2.Prefix); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEDLEntry(ctx, "other", e2.Prefix); err != nil {
		t.Fatalf("deleting an absent entry: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	got, err := s.EDLEntries(ctx, "block")
	if err != nil {
		t.Fatal(err)
	}
	if want := []EDLEntry{e2, e1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("entries after reopen:\n got %+v\nwant %+v", got, want)
	}
	if other, err := s.EDLEntries(ctx, "other"); err != nil || len(other) != 0 {
		t.Fatalf("other list: %+v %v, want empty", other, err)
	}
	if err := s.PutEDLEntry(ctx, "", e1); err == nil {
		t.Fatal("an entry without a list name was stored")
	}
}
