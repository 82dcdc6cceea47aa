package actions

import (
	"context"
	"net/netip"

	"github.com/warroom/warroom/connectors/edl"
	"github.com/warroom/warroom/store"
)

// EDLEntryStore is the store's side of the EDL persistence (*store.SQLite).
type EDLEntryStore interface {
	EDLEntries(ctx context.Context, list string) ([]store.EDLEntry, error)
	PutEDLEntry(ctx context.Context, list string, e store.EDLEntry) error
	DeleteEDLEntry(ctx context.Context, list string, p netip.Prefix) error
}

// EDLState adapts the store to edl.Store, so the lists warroom serves survive a
// restart. Pass it as connectors.Env.State when building edl connectors.
func EDLState(s EDLEntryStore) edl.Store { return edlState{s} }

type edlState struct{ s EDLEntryStore }

var _ edl.Store = edlState{}

func (a edlState) Load(ctx context.Context, list string) ([]edl.Entry, error) {
	rows, err := a.s.EDLEntries(ctx, list)
	if err != nil {
		return nil, err
	}
	out := make([]edl.Entry, len(rows))
	for i, r := range rows {
		out[i] = edl.Entry{Prefix: r.Prefix, ActionID: r.ActionID, AddedAt: r.AddedAt, ExpiresAt: r.ExpiresAt}
	}
	return out, nil
}

func (a edlState) Put(ctx context.Context, list string, e edl.Entry) error {
	return a.s.PutEDLEntry(ctx, list, store.EDLEntry{Prefix: e.Prefix, ActionID: e.ActionID, AddedAt: e.AddedAt, ExpiresAt: e.ExpiresAt})
}

func (a edlState) Delete(ctx context.Context, list string, p netip.Prefix) error {
	return a.s.DeleteEDLEntry(ctx, list, p)
}
