package local

import (
	"strings"
	"sync"
)

// An event is one server-sent event.
type event struct {
	name string
	data string
	// user, when set, limits the event to that user's pages.
	user string
	// csrf: data holds csrfPlaceholder, to be replaced by each page's own token.
	csrf bool
}

// subscriber is one open page's event stream.
type subscriber struct {
	user string
	csrf string
	ch   chan event
}

// hub fans events out to the open pages. A page that cannot keep up is dropped; its
// browser reconnects and reloads what it shows.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	// joined gets a signal (when it has room) each time a page subscribes.
	joined chan struct{}
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}, joined: make(chan struct{}, 1)} }

func (h *hub) subscribe(user, csrf string) *subscriber {
	s := &subscriber{user: user, csrf: csrf, ch: make(chan event, 64)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	select {
	case h.joined <- struct{}{}:
	default:
	}
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// idle reports whether no page is subscribed: nothing need be rendered for the live
// updates, since a page that opens later renders what is current.
func (h *hub) idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) == 0
}

func (h *hub) publish(ev event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if ev.user != "" && ev.user != s.user {
			continue
		}
		e := ev
		if e.csrf {
			e.data = strings.ReplaceAll(e.data, csrfPlaceholder, s.csrf)
		}
		select {
		case s.ch <- e:
		default:
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// closeAll ends every stream.
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}
