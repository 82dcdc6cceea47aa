package narrate_test

import (
	"context"
	"testing"

	"github.com/warroom/warroom/triage/narrate/openaitest"
)

// BenchmarkCurrent measures what Current costs the caller (the bot's sync): for an
// incident new to the engine (a stored-narrative lookup and a background request
// started, the fake answering at once) and for one whose narrative is current.
func BenchmarkCurrent(b *testing.B) {
	ctx := context.Background()
	b.Run("new-incident", func(b *testing.B) {
		r := newRigB(b)
		base := fixture()
		for i := 0; i < b.N; i++ {
			f := withIncident(base, int64(1000+i))
			n := r.eng.Current(ctx, f, template)
			if n.Source != "template" {
				b.Fatal(n)
			}
			b.StopTimer()
			<-r.updates
			b.StartTimer()
		}
	})
	b.Run("cached", func(b *testing.B) {
		r := newRigB(b)
		f := fixture()
		r.eng.Current(ctx, f, template)
		<-r.updates
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if n := r.eng.Current(ctx, f, template); n.Source != "ai" {
				b.Fatal(n)
			}
		}
	})
}

func newRigB(b *testing.B) *rig { return newRigTB(b, openaitest.OK) }
