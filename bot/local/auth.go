package local

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
)

const (
	cookieName = "warroom_chat"
	// csrfPlaceholder stands for a page's CSRF token in HTML rendered for everyone.
	csrfPlaceholder = "CSRF0TOKEN0PLACEHOLDER"
	maxSessions     = 10000
)

// session is one browser's login. Anonymous sessions (user "") carry the CSRF token
// of the login form.
type session struct {
	id      string
	user    string
	csrf    string
	expires time.Time
	flash   string // a private reply to show on the next page (without JavaScript)
}

type sessions struct {
	clk clock.Clock
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(clk clock.Clock, ttl time.Duration) *sessions {
	return &sessions{clk: clk, ttl: ttl, m: map[string]*session{}}
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web chat: no randomness: " + err.Error()) // the system is unusable
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// get returns the live session with this id, extending it.
func (s *sessions) get(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[id]
	now := s.clk.Now()
	if !ok || now.After(se.expires) {
		delete(s.m, id)
		return nil, false
	}
	se.expires = now.Add(s.ttl)
	cp := *se
	return &cp, true
}

// create starts a session for user ("" for anonymous).
func (s *sessions) create(user string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	if len(s.m) >= maxSessions {
		for id, se := range s.m {
			if now.After(se.expires) || se.user == "" {
				delete(s.m, id)
			}
		}
		for id := range s.m { // still full: drop any
			if len(s.m) < maxSessions {
				break
			}
			delete(s.m, id)
		}
	}
	se := &session{id: randomToken(), user: user, csrf: randomToken(), expires: now.Add(s.ttl)}
	s.m[se.id] = se
	cp := *se
	return &cp
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (s *sessions) setFlash(id, text string) {
	s.mu.Lock()
	if se, ok := s.m[id]; ok {
		se.flash = text
	}
	s.mu.Unlock()
}

func (s *sessions) takeFlash(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[id]
	if !ok {
		return ""
	}
	f := se.flash
	se.flash = ""
	return f
}

// session returns the request's session, if any.
func (c *Chat) session(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, false
	}
	return c.sess.get(ck.Value)
}

func (c *Chat) setCookie(w http.ResponseWriter, se *session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: se.id, Path: "/chat/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(c.ttl / time.Second)})
}

func (c *Chat) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/chat/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// checkCSRF reports whether the request carries the session's CSRF token.
func checkCSRF(r *http.Request, se *session) bool {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return se != nil && tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(se.csrf)) == 1
}

// authenticate checks a login form and returns the user it names.
func (c *Chat) authenticate(r *http.Request) (*user, string) {
	name := strings.TrimSpace(r.PostFormValue("user"))
	switch c.auth {
	case config.AuthNone:
		u, ok := c.users[name]
		if !ok {
			return nil, "Pick one of the listed users."
		}
		return u, ""
	case config.AuthPassword:
		if c.limiter.blocked(name) {
			return nil, "Too many failed attempts; wait a minute and try again."
		}
		u, ok := c.users[name]
		pw := r.PostFormValue("password")
		if !ok {
			// Spend the same time as a real check, so timing does not tell which
			// names exist.
			bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
			c.limiter.fail(name)
			return nil, "Wrong user name or password."
		}
		if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(pw)) != nil {
			c.limiter.fail(name)
			return nil, "Wrong user name or password."
		}
		return u, ""
	case config.AuthToken:
		key := "token@" + clientIP(r)
		if c.limiter.blocked(key) {
			return nil, "Too many failed attempts; wait a minute and try again."
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(r.PostFormValue("token"))))
		var found *user
		for _, n := range c.order {
			u := c.users[n]
			if subtle.ConstantTimeCompare(sum[:], u.tokenHash[:]) == 1 {
				found = u
			}
		}
		if found == nil {
			c.limiter.fail(key)
			return nil, "Unknown token."
		}
		return found, ""
	}
	return nil, "Login is not configured."
}

// dummyHash is a bcrypt hash of nothing useful, compared against for unknown users.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("warroom-no-such-user"), bcrypt.MinCost)

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter refuses logins for a key (user name or address) after 5 failures within
// 10 minutes, for a minute.
type limiter struct {
	clk clock.Clock
	mu  sync.Mutex
	m   map[string][]time.Time
}

func newLimiter(clk clock.Clock) *limiter { return &limiter{clk: clk, m: map[string][]time.Time{}} }

func (l *limiter) recent(key string) []time.Time {
	now := l.clk.Now()
	var keep []time.Time
	for _, t := range l.m[key] {
		if now.Sub(t) < 10*time.Minute {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		delete(l.m, key)
	} else {
		l.m[key] = keep
	}
	return keep
}

func (l *limiter) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recent(key)
	return len(r) >= 5 && l.clk.Now().Sub(r[len(r)-1]) < time.Minute
}

func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) > 10000 {
		clear(l.m)
	}
	l.m[key] = append(l.recent(key), l.clk.Now())
}

// hostAllowed guards a login-free web chat against DNS rebinding: the Host header
// must name this machine.
func (c *Chat) hostAllowed(r *http.Request) bool {
	if c.auth != config.AuthNone {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return config.IsLoopback(host)
}
