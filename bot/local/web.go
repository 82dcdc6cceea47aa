package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/store"
)

// maxForm bounds a posted form.
const maxForm = 64 << 10

// Handler serves the web chat under /chat/.
func (c *Chat) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /chat/{$}", c.index)
	mux.HandleFunc("GET /chat/login", c.loginPage)
	mux.HandleFunc("POST /chat/login", c.login)
	mux.HandleFunc("POST /chat/logout", c.logout)
	mux.HandleFunc("GET /chat/rooms", c.withUser(c.roomsList))
	mux.HandleFunc("GET /chat/events", c.withUser(c.events))
	mux.HandleFunc("GET /chat/r/{room}", c.withUser(c.roomPage))
	mux.HandleFunc("GET /chat/r/{room}/messages", c.withUser(c.roomMessages))
	mux.HandleFunc("POST /chat/r/{room}/click", c.withUser(c.post(bot.Click)))
	mux.HandleFunc("POST /chat/r/{room}/command", c.withUser(c.post(bot.Command)))
	mux.HandleFunc("GET /chat/drills", c.withUser(c.drillsPage))
	mux.HandleFunc("GET /chat/drills/ttr.png", c.withUser(c.drillsChart))
	mux.Handle("GET /chat/static/", http.StripPrefix("/chat/static/", http.FileServerFS(c.assets.static)))
	return c.guard(mux)
}

// RedirectHome sends / to the web chat.
func RedirectHome() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/chat/", http.StatusFound)
	})
}

// guard sets the security headers, refuses foreign Host headers on a login-free chat,
// and bounds request bodies.
func (c *Chat) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !c.hostAllowed(r) {
			http.Error(w, "This web chat runs without a login and answers only to localhost addresses.", http.StatusMisdirectedRequest)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		next.ServeHTTP(w, r)
	})
}

type ctxSession struct{}

// withUser runs h for a logged-in session; others go to the login page (or get 401).
func (c *Chat) withUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se, ok := c.session(r)
		if !ok || se.user == "" || c.users[se.user] == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") && !wantsJSON(r) {
				http.Redirect(w, r, "/chat/login", http.StatusSeeOther)
				return
			}
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "not signed in", "private": true, "text": "Sign in again."})
			return
		}
		if r.Method == http.MethodPost && !checkCSRF(r, se) {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": "missing or wrong CSRF token; reload the page", "private": true,
				"refused": true, "text": "The form was stale; reload the page and try again."})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxSession{}, se)))
	}
}

func sessionOf(r *http.Request) *session { return r.Context().Value(ctxSession{}).(*session) }

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (c *Chat) serverError(w http.ResponseWriter, err error) {
	c.log.Error("web chat: request failed", "err", err)
	http.Error(w, "warroom could not answer this page; see its log.", http.StatusInternalServerError)
}

func (c *Chat) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := c.assets.tmpl.ExecuteTemplate(w, name, data); err != nil {
		c.log.Error("web chat: render", "template", name, "err", err)
	}
}

type pageUser struct{ Name, Display, Role string }

func (c *Chat) pageUser(se *session) pageUser {
	u := c.users[se.user]
	return pageUser{Name: u.Name, Display: u.Display, Role: string(u.Role)}
}

func (c *Chat) index(w http.ResponseWriter, r *http.Request) {
	se, ok := c.session(r)
	if !ok || se.user == "" || c.users[se.user] == nil {
		http.Redirect(w, r, "/chat/login", http.StatusSeeOther)
		return
	}
	rooms, err := c.roomsFragment(r.Context(), "")
	if err != nil {
		c.serverError(w, err)
		return
	}
	c.render(w, "page", map[string]any{"User": c.pageUser(se), "CSRF": se.csrf, "Auth": c.auth,
		"Rooms": template.HTML(rooms)}) // rendered by html/template
}

func (c *Chat) loginPage(w http.ResponseWriter, r *http.Request) {
	se, ok := c.session(r)
	if !ok {
		se = c.sess.create("")
		c.setCookie(w, se)
	}
	c.renderLogin(w, se, "", http.StatusOK)
}

func (c *Chat) renderLogin(w http.ResponseWriter, se *session, msg string, code int) {
	users := make([]pageUser, 0, len(c.order))
	for _, n := range c.order {
		u := c.users[n]
		users = append(users, pageUser{Name: u.Name, Display: u.Display, Role: string(u.Role)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := c.assets.tmpl.ExecuteTemplate(w, "login", map[string]any{"Auth": c.auth, "Users": users, "CSRF": se.csrf, "Error": msg}); err != nil {
		c.log.Error("web chat: render login", "err", err)
	}
}

func (c *Chat) login(w http.ResponseWriter, r *http.Request) {
	se, ok := c.session(r)
	if !ok || !checkCSRF(r, se) {
		se = c.sess.create("")
		c.setCookie(w, se)
		c.renderLogin(w, se, "The form had expired; try again.", http.StatusForbidden)
		return
	}
	u, msg := c.authenticate(r)
	if u == nil {
		c.renderLogin(w, se, msg, http.StatusUnauthorized)
		return
	}
	// A new session id at login, so a session fixed before it is worthless.
	c.sess.drop(se.id)
	ns := c.sess.create(u.Name)
	c.setCookie(w, ns)
	c.log.Info("web chat: signed in", "user", u.Name, "role", u.Role)
	http.Redirect(w, r, "/chat/", http.StatusSeeOther)
}

func (c *Chat) logout(w http.ResponseWriter, r *http.Request) {
	se, ok := c.session(r)
	if !ok || !checkCSRF(r, se) {
		http.Error(w, "missing or wrong CSRF token; reload the page", http.StatusForbidden)
		return
	}
	c.sess.drop(se.id)
	c.clearCookie(w)
	http.Redirect(w, r, "/chat/login", http.StatusSeeOther)
}

func (c *Chat) roomsList(w http.ResponseWriter, r *http.Request) {
	html, err := c.roomsFragment(r.Context(), r.URL.Query().Get("current"))
	if err != nil {
		c.serverError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, html)
}

func (c *Chat) room(w http.ResponseWriter, r *http.Request) (*store.LocalRoom, bool) {
	rm, err := c.st.LocalRoom(r.Context(), r.PathValue("room"))
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such room", http.StatusNotFound)
		return nil, false
	}
	if err != nil {
		c.serverError(w, err)
		return nil, false
	}
	c.rememberRoom(rm.ID, rm.Name)
	return rm, true
}

func (c *Chat) roomPage(w http.ResponseWriter, r *http.Request) {
	se := sessionOf(r)
	rm, ok := c.room(w, r)
	if !ok {
		return
	}
	msgs, err := c.messageViews(r.Context(), rm, se.csrf)
	if err != nil {
		c.serverError(w, err)
		return
	}
	rooms, err := c.roomsFragment(r.Context(), rm.Name)
	if err != nil {
		c.serverError(w, err)
		return
	}
	c.render(w, "page", map[string]any{"User": c.pageUser(se), "CSRF": se.csrf, "Auth": c.auth,
		"Rooms": template.HTML(rooms), "Room": rm, "Messages": msgs, "Flash": c.sess.takeFlash(se.id)})
}

func (c *Chat) roomMessages(w http.ResponseWriter, r *http.Request) {
	se := sessionOf(r)
	rm, ok := c.room(w, r)
	if !ok {
		return
	}
	msgs, err := c.messageViews(r.Context(), rm, se.csrf)
	if err != nil {
		c.serverError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for _, m := range msgs {
		fmt.Fprint(w, m)
	}
}

// post handles a button click or a command typed in a room.
func (c *Chat) post(kind bot.InteractionKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := sessionOf(r)
		rm, ok := c.room(w, r)
		if !ok {
			return
		}
		if c.interact == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"private": true, "refused": true, "text": "The bot is not running."})
			return
		}
		u := c.users[se.user]
		in := bot.Interaction{Platform: Name, Kind: kind, User: bot.User{ID: u.Name, Name: u.Display},
			Room: bot.RoomRef{ID: strconv.FormatInt(rm.ID, 10), Name: rm.Name}}
		if kind == bot.Click {
			in.ActionID = r.PostFormValue("action_id")
			if in.ActionID == "" || len(in.ActionID) > 100 {
				writeJSON(w, http.StatusBadRequest, map[string]any{"private": true, "refused": true, "text": "The click carried no button."})
				return
			}
		} else {
			in.Text = strings.TrimSpace(r.PostFormValue("text"))
			if in.Text == "" {
				in.Text = "help"
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 45*time.Second)
		defer cancel()
		rep, err := c.interact.Interact(ctx, in)
		if err != nil {
			c.log.Error("web chat: interaction failed", "user", u.Name, "room", rm.Name, "err", err)
			rep = bot.Reply{Private: true, Text: "warroom could not handle this; try again in a moment."}
		}
		if wantsJSON(r) {
			writeJSON(w, http.StatusOK, map[string]any{"private": rep.Private, "text": rep.Text, "refused": rep.Refused})
			return
		}
		if rep.Private {
			c.sess.setFlash(se.id, rep.Text)
		}
		http.Redirect(w, r, "/chat/r/"+rm.Name, http.StatusSeeOther)
	}
}

// events streams live updates to one page.
func (c *Chat) events(w http.ResponseWriter, r *http.Request) {
	se := sessionOf(r)
	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts (an expired read deadline
	// would end the request).
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sub := c.hub.subscribe(se.user, se.csrf)
	defer c.hub.unsubscribe(sub)
	fmt.Fprint(w, "retry: 2000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.ch:
			if !ok {
				return
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data); err != nil {
				return
			}
		case <-ping.C:
			if _, ok := c.sess.get(se.id); !ok {
				return // logged out or expired
			}
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
