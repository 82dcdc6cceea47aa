package drain

import (
	"context"
	"slices"
	"testing"
)

func TestEachTakesEveryValueUntilTheChannelCloses(t *testing.T) {
	ch := make(chan int, 3)
	ch <- 1
	ch <- 2
	ch <- 3
	close(ch)
	var got []int
	Each(context.Background(), ch, func(v int) { got = append(got, v) })
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("got %v", got)
	}
}

func TestEachStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch := make(chan int) // never closed, never sent on
	called := false
	Each(ctx, ch, func(int) { called = true })
	if called {
		t.Fatal("called without a value")
	}
}
