package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/triage/model"
)

func openChatStore(t *testing.T, path string) *SQLite {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "warroom.db")
	}
	s, err := OpenSQLite(context.Background(), path, Options{Clock: clock.NewFake(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)), indexEvery: 3})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func submit(t *testing.T, s *SQLite, op Op) {
	t.Helper()
	if err := s.Submit(context.Background(), op); err != nil {
		t.Fatal(err)
	}
}

func TestChatRoomIntentSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openChatStore(t, path)
	ctx := context.Background()
	submit(t, s, func(tx Tx) error {
		if taken, err := tx.ChatRoomNameTaken("local", "inc-0001-x"); err != nil || taken {
			t.Errorf("name taken before any room: %v %v", taken, err)
		}
		if err := tx.PutChatRoom(&ChatRoom{Platform: "local", IncidentID: 1, Name: "inc-0001-x", State: []byte(`{"a":1}`)}); err != nil {
			return err
		}
		r, err := tx.ChatRoom("local", 1)
		if err != nil || r.Name != "inc-0001-x" || r.RoomID != "" {
			t.Errorf("room read inside the transaction: %+v %v", r, err)
		}
		if taken, _ := tx.ChatRoomNameTaken("local", "inc-0001-x"); !taken {
			t.Error("name not taken after the room was written")
		}
		return tx.EnqueueChatOp(&ChatOp{Platform: "local", IncidentID: 1, Kind: "create_room", Payload: []byte(`{}`)})
	})
	s.Close()
	s = openChatStore(t, path)
	r, err := s.ChatRoom(ctx, "local", 1)
	if err != nil || r.Name != "inc-0001-x" || string(r.State) != `{"a":1}` || r.Closed {
		t.Fatalf("room after reopen: %+v %v", r, err)
	}
	if _, err := s.ChatRoomByID(ctx, "local", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("room by empty id: %v", err)
	}
	heads, err := s.ChatOutboxHeads(ctx, "local", 0)
	if err != nil || len(heads) != 1 || heads[0].Kind != "create_room" {
		t.Fatalf("outbox after reopen: %+v %v", heads, err)
	}
	submit(t, s, func(tx Tx) error {
		r.RoomID = "R1"
		return tx.PutChatRoom(r)
	})
	if got, err := s.ChatRoomByID(ctx, "local", "R1"); err != nil || got.IncidentID != 1 {
		t.Errorf("room by id: %+v %v", got, err)
	}
	if _, err := s.ChatRoom(ctx, "slack", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("room on another platform: %v, want ErrNotFound", err)
	}
}

func TestChatOutboxOrderCoalesceAndRevisions(t *testing.T) {
	s := openChatStore(t, "")
	ctx := context.Background()
	var first, opening, second *ChatOp
	submit(t, s, func(tx Tx) error {
		first = &ChatOp{Platform: "p", IncidentID: 1, Kind: "create_room", Payload: []byte(`1`)}
		opening = &ChatOp{Platform: "p", IncidentID: 1, Kind: "put", Key: "opening", Payload: []byte(`v1`), Coalesce: true}
		second = &ChatOp{Platform: "p", IncidentID: 2, Kind: "create_room", Payload: []byte(`2`)}
		for _, op := range []*ChatOp{first, opening, second} {
			if err := tx.EnqueueChatOp(op); err != nil {
				return err
			}
		}
		return nil
	})
	heads, err := s.ChatOutboxHeads(ctx, "p", 0)
	if err != nil || len(heads) != 2 || heads[0].ID != first.ID || heads[1].ID != second.ID {
		t.Fatalf("heads: %+v %v; want the first op of each room", heads, err)
	}
	// A newer version of a queued message replaces it in place.
	v2 := &ChatOp{Platform: "p", IncidentID: 1, Kind: "put", Key: "opening", Payload: []byte(`v2`), Coalesce: true}
	submit(t, s, func(tx Tx) error { return tx.EnqueueChatOp(v2) })
	if v2.ID != opening.ID || v2.Rev != 2 {
		t.Fatalf("coalesced op: id %d rev %d; want id %d rev 2", v2.ID, v2.Rev, opening.ID)
	}
	all, _ := s.ChatOutbox(ctx, "p")
	if len(all) != 3 || string(all[1].Payload) != "v2" {
		t.Fatalf("outbox after coalescing: %+v", all)
	}
	var done bool
	submit(t, s, func(tx Tx) (err error) { done, err = tx.FinishChatOp(first.ID, 1); return err })
	if !done {
		t.Fatal("finishing the head op at its rev did not remove it")
	}
	// Delivered at rev 1 while rev 2 was queued: the op stays.
	submit(t, s, func(tx Tx) (err error) { done, err = tx.FinishChatOp(opening.ID, 1); return err })
	if done {
		t.Fatal("an op replaced during delivery was removed")
	}
	submit(t, s, func(tx Tx) error { return tx.StartChatOp(opening.ID) })
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	submit(t, s, func(tx Tx) error { return tx.DeferChatOp(opening.ID, 3, at, "429 slow down", false) })
	heads, _ = s.ChatOutboxHeads(ctx, "p", 0)
	if len(heads) != 2 || heads[1].ID != opening.ID || heads[1].Attempts != 3 || !heads[1].NextAt.Equal(at) || heads[1].LastError != "429 slow down" {
		t.Fatalf("deferred head: %+v", heads)
	}
	// A limit keeps the soonest due.
	if heads, _ = s.ChatOutboxHeads(ctx, "p", 1); len(heads) != 1 || heads[0].IncidentID != 2 {
		t.Fatalf("the soonest head: %+v", heads)
	}
	submit(t, s, func(tx Tx) error { return tx.DeferChatOp(opening.ID, 4, at, "invalid_blocks", true) })
	heads, _ = s.ChatOutboxHeads(ctx, "p", 0)
	if len(heads) != 1 || heads[0].IncidentID != 2 {
		t.Fatalf("a dead op still heads its room: %+v", heads)
	}
	// A new message after a dead one is queued anew, not merged into the dead one.
	v3 := &ChatOp{Platform: "p", IncidentID: 1, Kind: "put", Key: "opening", Payload: []byte(`v3`), Coalesce: true}
	submit(t, s, func(tx Tx) error { return tx.EnqueueChatOp(v3) })
	// The counts /metrics reports: what is left of p's ops, by state.
	left, _ := s.ChatOutbox(ctx, "p")
	wantPending := 0
	for _, op := range left {
		if !op.Dead {
			wantPending++
		}
	}
	if counts, err := s.CountChatOps(ctx); err != nil || counts["p"] != (ChatOpCounts{Pending: wantPending, Dead: 1}) || len(counts) != 1 {
		t.Fatalf("counts %+v %v; want %d pending and 1 dead", counts, err, wantPending)
	}
	if v3.ID == opening.ID || v3.Rev != 1 {
		t.Fatalf("op after a dead one: %+v", v3)
	}
}

func TestChatButtonsCommanderAndMessages(t *testing.T) {
	s := openChatStore(t, "")
	ctx := context.Background()
	submit(t, s, func(tx Tx) error {
		if _, err := tx.ChatButton(7, "ack", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing button: %v", err)
		}
		if err := tx.PutChatButton(&ChatButton{Token: "tok1", IncidentID: 7, Verb: "act", Subject: "block_ip 203.0.113.45/32", Data: []byte(`{"x":1}`)}); err != nil {
			return err
		}
		b, err := tx.ChatButton(7, "act", "block_ip 203.0.113.45/32")
		if err != nil || b.Token != "tok1" {
			t.Errorf("button in tx: %+v %v", b, err)
		}
		if err := tx.SetIncidentCommander(7, "local:alice", "local:bob", time.Time{}); err != nil {
			return err
		}
		return tx.PutChatMessage(&ChatMessage{Platform: "local", IncidentID: 7, Key: "opening", MessageID: "12"})
	})
	b, err := s.ChatButtonByToken(ctx, "tok1")
	if err != nil || b.IncidentID != 7 || b.Verb != "act" || string(b.Data) != `{"x":1}` {
		t.Fatalf("button by token: %+v %v", b, err)
	}
	if _, err := s.ChatButtonByToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	if c, err := s.IncidentCommander(ctx, 7); err != nil || c != "local:alice" {
		t.Errorf("commander: %q %v", c, err)
	}
	if c, err := s.IncidentCommander(ctx, 8); err != nil || c != "" {
		t.Errorf("commander of an incident without one: %q %v", c, err)
	}
	if m, err := s.ChatMessage(ctx, "local", 7, "opening"); err != nil || m.MessageID != "12" {
		t.Errorf("message: %+v %v", m, err)
	}
}

func TestLocalRoomsAndMessagesAreIdempotent(t *testing.T) {
	s := openChatStore(t, "")
	ctx := context.Background()
	var r1, r2 LocalRoom
	var m1, m2 LocalMessage
	var added1, added2 bool
	submit(t, s, func(tx Tx) (err error) {
		r1 = LocalRoom{Name: "inc-0001-a", Topic: "t", IncidentID: 1}
		if err := tx.PutLocalRoom(&r1); err != nil {
			return err
		}
		r2 = LocalRoom{Name: "inc-0001-a", Topic: "other"}
		if err := tx.PutLocalRoom(&r2); err != nil {
			return err
		}
		m1 = LocalMessage{RoomID: r1.ID, Key: "k1", Body: []byte(`{"text":"a"}`)}
		if added1, err = tx.PutLocalMessage(&m1); err != nil {
			return err
		}
		m2 = LocalMessage{RoomID: r1.ID, Key: "k1", Body: []byte(`{"text":"b"}`)}
		added2, err = tx.PutLocalMessage(&m2)
		return err
	})
	if r2.ID != r1.ID || r2.Topic != "t" || r2.IncidentID != 1 {
		t.Errorf("second create of a room: %+v, want the first %+v", r2, r1)
	}
	if !added1 || added2 || m2.ID != m1.ID || string(m2.Body) != `{"text":"a"}` {
		t.Errorf("repeated post: added %v %v, %+v", added1, added2, m2)
	}
	var up *LocalMessage
	submit(t, s, func(tx Tx) (err error) {
		up, err = tx.UpdateLocalMessage(m1.ID, []byte(`{"text":"c"}`), time.Time{})
		return err
	})
	if up.Rev != 2 || string(up.Body) != `{"text":"c"}` {
		t.Errorf("updated message: %+v", up)
	}
	msgs, err := s.LocalMessages(ctx, r1.ID)
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != `{"text":"c"}` {
		t.Errorf("messages: %+v %v", msgs, err)
	}
	submit(t, s, func(tx Tx) error { return tx.ArchiveLocalRoom(r1.ID, time.Time{}) })
	rooms, err := s.LocalRooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].ArchivedAt == nil {
		t.Errorf("rooms: %+v %v", rooms, err)
	}
	if _, err := s.LocalRoom(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown room: %v", err)
	}
	if _, err := s.LocalMessage(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown message: %v", err)
	}
}

func TestChatAlertStats(t *testing.T) {
	s := openChatStore(t, "")
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var alerts []*model.Alert
	for i := 1; i <= 5; i++ {
		a := testAlert(i)
		a.IncidentID = 3
		a.EventTime = t0.Add(time.Duration(i) * time.Minute)
		a.Rule = "ET SCAN Potential SSH Scan"
		a.URL = ""
		if i == 5 {
			a.Rule = "ET POLICY SSH session"
			a.URL = "https://siem.example/alert/5"
		}
		alerts = append(alerts, a)
	}
	insertAlerts(t, s, alerts...)
	st, err := s.ChatAlertStats(context.Background(), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 5 || len(st.Rules) != 2 || st.Rules[0].Count != 4 || st.Rules[0].Rule != "ET SCAN Potential SSH Scan" ||
		!st.First.Equal(t0.Add(time.Minute)) || !st.Last.Equal(t0.Add(5*time.Minute)) || st.MaxID != alerts[4].ID ||
		len(st.Links) != 1 || st.Links[0] != "https://siem.example/alert/5" {
		t.Fatalf("stats: %+v", st)
	}
	st, err = s.ChatAlertStats(context.Background(), 3, alerts[2].ID)
	if err != nil || st.Total != 2 {
		t.Fatalf("stats after alert %d: %+v %v", alerts[2].ID, st, err)
	}
}

func TestChatReadsNullColumns(t *testing.T) {
	s := openChatStore(t, "")
	submit(t, s, func(tx Tx) error {
		if err := tx.PutChatRoom(&ChatRoom{Platform: "p", IncidentID: 1, Name: "n"}); err != nil { // state NULL
			return err
		}
		return tx.PutLocalRoom(&LocalRoom{Name: "n"}) // archived_at NULL
	})
	if r, err := s.ChatRoom(context.Background(), "p", 1); err != nil || r.State != nil {
		t.Fatalf("room with NULL state: %+v %v", r, err)
	}
	if rooms, err := s.LocalRooms(context.Background()); err != nil || len(rooms) != 1 || rooms[0].ArchivedAt != nil {
		t.Fatalf("local rooms with NULL archived_at: %+v %v", rooms, err)
	}
}

// TestChatAlertStatsSinceEqualsAFullCount: statistics carried forward from an earlier
// answer equal a full count, after new alerts of known and new rules, after a merge
// moved older alerts in, and past 50 rules.
func TestChatAlertStatsSinceEqualsAFullCount(t *testing.T) {
	s := openChatStore(t, "")
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	count := map[int64]int{}
	seq := 0
	// add stores n alerts of rule in incident inc (with the incident row's count).
	add := func(inc int64, rule, url string, n int) {
		t.Helper()
		var alerts []*model.Alert
		for range n {
			seq++
			a := testAlert(seq)
			a.IncidentID, a.Rule, a.URL = inc, rule, url
			a.EventTime = t0.Add(time.Duration(seq%7) * time.Minute) // not in id order
			a.Severity = model.Severity(1 + seq%5)
			alerts = append(alerts, a)
		}
		count[inc] += n
		submit(t, s, func(tx Tx) error {
			for _, a := range alerts {
				a.ID = tx.NextAlertID()
			}
			if err := tx.InsertAlerts(alerts); err != nil {
				return err
			}
			return tx.UpsertIncident(&model.Incident{ID: inc, Number: model.IncidentNumber(inc), Status: model.StatusOpen,
				Kind: model.KindNormal, AlertCount: count[inc], OpenedAt: t0})
		})
	}
	check := func(step string, prev *ChatAlertStats) *ChatAlertStats {
		t.Helper()
		got, err := s.ChatAlertStatsSince(ctx, 3, prev)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.ChatAlertStats(ctx, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n since %+v\n full  %+v", step, got, want)
		}
		return got
	}
	add(3, "ET SCAN Nmap", "", 4)
	add(3, "ET POLICY SSH", "https://siem.example/a/1", 2)
	st := check("first, from nothing", nil)
	add(3, "ET POLICY SSH", "https://siem.example/a/2", 5) // overtakes the first rule
	add(3, "ET EXPLOIT Log4j", "https://siem.example/a/1", 1)
	st = check("new alerts of known and new rules", st)
	st = check("nothing new", st)

	add(7, "ET TROJAN Beacon", "https://siem.example/b/1", 3) // older than what comes next in 3
	add(3, "ET SCAN Nmap", "", 1)
	st = check("before the merge", st)
	submit(t, s, func(tx Tx) error { // incident 7 merged into 3
		count[3] += count[7]
		if err := tx.MoveAlerts(7, 3); err != nil {
			return err
		}
		return tx.UpsertIncident(&model.Incident{ID: 3, Number: model.IncidentNumber(3), Status: model.StatusOpen,
			Kind: model.KindNormal, AlertCount: count[3], OpenedAt: t0})
	})
	st = check("after a merge moved older alerts in", st)
	if st.Total != count[3] {
		t.Fatalf("total %d, want %d", st.Total, count[3])
	}
	for i := range 55 {
		add(3, fmt.Sprintf("rule %02d", i), "", 1)
	}
	st = check("past 50 rules", st)
	add(3, "rule 54", "", 2)
	check("with a cut rule list", st)
}
