package local

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (run go test -update if the change is intended):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestOpeningMessageHTMLGolden renders the opening message of the bot's golden file
// as the web chat shows it.
func TestOpeningMessageHTMLGolden(t *testing.T) {
	b, err := os.ReadFile("../testdata/opening.golden")
	if err != nil {
		t.Fatal(err)
	}
	var m bot.Message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	html, err := RenderMessageHTML("inc-0042-ssh-brute-force-203-0-113-45", 7, time.Date(2026, 11, 20, 9, 12, 0, 0, time.UTC), &m)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "opening.html.golden", []byte(html+"\n"))
	// Alert text that tries to mention people or inject markup stays text.
	for _, bad := range []string{"<script>", "<!channel>", "<@U999>", "javascript:"} {
		if strings.Contains(html, bad) {
			t.Errorf("rendered HTML contains %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;!channel&gt;", "&lt;script&gt;", `data-confirm="Block 203.0.113.45/32 (24h)?`, `name="csrf"`} {
		if !strings.Contains(html, want) {
			t.Errorf("rendered HTML lacks %q", want)
		}
	}
}

func TestEscapesEveryTextField(t *testing.T) {
	evil := `<img src=x onerror=alert(1)> "quoted" & 'single'`
	m := &bot.Message{Key: "k", Kind: bot.KindAnnouncement, Header: evil, StatusLine: evil, Text: evil, Fallback: evil,
		Narrative: &bot.Narrative{Text: evil, Source: "template"},
		Sections: []bot.Section{{Title: evil, Text: evil, Items: []string{evil}, Fields: []bot.Field{{Label: evil, Value: evil}},
			Links: []bot.Link{{Text: evil, URL: "javascript:alert(1)"}}}},
		Buttons: []bot.Button{{ActionID: `x" onclick="alert(1)`, Label: evil, Confirm: &bot.Confirm{Title: evil, Text: evil}}},
		Context: []string{evil}}
	html, err := RenderMessageHTML("r", 1, time.Unix(0, 0), m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<img") || strings.Contains(html, `onclick="alert`) || strings.Contains(html, `href="javascript:`) {
		t.Fatalf("markup got through:\n%s", html)
	}
}

// TestImageOnlyFromTheChatsOwnPaths: a message's picture is shown when it is one of
// the web chat's own paths, with its alt text escaped, and left out otherwise.
func TestImageOnlyFromTheChatsOwnPaths(t *testing.T) {
	for _, tc := range []struct {
		path string
		show bool
	}{
		{"/chat/drills/ttr.png", true},
		{"/chat/drills/ttr-2026_11.png", true},
		{"https://evil.example/x.png", false},
		{"//evil.example/x.png", false},
		{"/chat//evil.example/x.png", false},
		{"/chat/../api/v1/incidents", false},
		{"/chat/./drills/ttr.png", false},
		{"/chat/drills/ttr.png?x=1", false},
		{`/chat/x" onerror="alert(1)`, false},
		{"/api/v1/incidents", false},
		{"javascript:alert(1)", false},
		{`/chat/drills/ttr.png\x`, false},
	} {
		m := &bot.Message{Key: "reply:1", Kind: bot.KindReply, Text: "Drill ended.",
			Image: &bot.Image{Path: tc.path, Alt: `chart <b>"x"</b>`}}
		html, err := RenderMessageHTML("r", 1, time.Unix(0, 0), m)
		if err != nil {
			t.Fatal(err)
		}
		shown := strings.Contains(html, "<img ")
		if shown != tc.show {
			t.Errorf("%q: image shown %v, want %v\n%s", tc.path, shown, tc.show, html)
			continue
		}
		if tc.show && (!strings.Contains(html, `<img src="`+tc.path+`"`) || !strings.Contains(html, `alt="chart &lt;b&gt;&#34;x&#34;&lt;/b&gt;"`)) {
			t.Errorf("%q: %s", tc.path, html)
		}
	}
}

// newChat returns a web chat on a real store, and the store.
func newChat(t *testing.T, o Options) (*Chat, *store.SQLite) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.Store, o.Clock, o.Log = st, clk, slog.New(slog.DiscardHandler)
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.Auth == "" {
		o.Auth = config.AuthNone
	}
	if o.Users == nil {
		o.Users = []User{{Name: "alice", Display: "Alice", Role: config.RoleResponder}, {Name: "bob", Role: config.RoleApprover}}
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func TestNoLoginIsRefusedOffLoopback(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "warroom.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, listen := range []string{"0.0.0.0:8080", "192.0.2.10:80", "[::]:8080"} {
		_, err := New(Options{Store: st, Clock: clock.Real{}, Log: slog.New(slog.DiscardHandler), Auth: config.AuthNone, Listen: listen})
		if err == nil || !strings.Contains(err.Error(), "allowed only on a loopback address") {
			t.Errorf("auth none on %s: %v", listen, err)
		}
	}
	if _, err := New(Options{Store: st, Clock: clock.Real{}, Log: slog.New(slog.DiscardHandler), Auth: config.AuthPassword,
		Listen: "0.0.0.0:8080", Users: []User{{Name: "a", Role: config.RoleViewer, PasswordHash: []byte("plain")}}}); err == nil {
		t.Error("a password that is not a bcrypt hash was accepted")
	}
}

func TestPlatformIsIdempotent(t *testing.T) {
	c, st := newChat(t, Options{})
	ctx := context.Background()
	spec := bot.RoomSpec{Name: "inc-0001-x", Topic: "t", IncidentID: 1}
	r1, err := c.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.CreateRoom(ctx, spec)
	if err != nil || r2 != r1 {
		t.Fatalf("second create: %+v %v; want %+v", r2, err, r1)
	}
	msg := &bot.Message{Key: "opening", Text: "v1", Fallback: "v1"}
	m1, err := c.Post(ctx, r1, msg, bot.PostOptions{IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := c.Post(ctx, r1, &bot.Message{Key: "opening", Text: "again"}, bot.PostOptions{IdempotencyKey: "k1"})
	if err != nil || m2 != m1 {
		t.Fatalf("repeated post: %+v %v", m2, err)
	}
	if err := c.Update(ctx, r1, m1, &bot.Message{Key: "opening", Text: "v2"}); err != nil {
		t.Fatal(err)
	}
	rooms, _ := st.LocalRooms(ctx)
	msgs, _ := st.LocalMessages(ctx, rooms[0].ID)
	if len(rooms) != 1 || len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), `"v2"`) {
		t.Fatalf("rooms %d, messages %+v", len(rooms), msgs)
	}
	err = c.Update(ctx, r1, bot.MessageRef{ID: "999"}, msg)
	if !bot.IsPermanent(err) {
		t.Errorf("update of a missing message: %v; want a permanent error", err)
	}
}

// client is a browser stand-in: a cookie jar and the page's CSRF token.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, srv *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: srv.URL, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return resp, b.String()
}

func (c *client) post(path string, form url.Values, header map[string]string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// login signs in through the login form and returns the page's CSRF token.
func (c *client) login(form url.Values) (*http.Response, string) {
	c.t.Helper()
	_, page := c.get("/chat/login")
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no CSRF token on the login page:\n%s", page)
	}
	form.Set("csrf", m[1])
	resp := c.post("/chat/login", form, nil)
	_, page = c.get("/chat/")
	tok := ""
	if m := csrfRe.FindStringSubmatch(page); m != nil {
		tok = m[1]
	}
	return resp, tok
}

type recorder struct{ got []bot.Interaction }

func (r *recorder) Interact(ctx context.Context, in bot.Interaction) (bot.Reply, error) {
	r.got = append(r.got, in)
	return bot.Reply{Private: true, Text: "seen " + in.Text + in.ActionID}, nil
}

func TestLoginSessionsAndCSRF(t *testing.T) {
	c, _ := newChat(t, Options{})
	rec := &recorder{}
	c.Attach(rec)
	if _, err := c.CreateRoom(context.Background(), bot.RoomSpec{Name: "inc-0001-x", IncidentID: 1}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	cl := newClient(t, srv)

	// Signed out: pages send to the login page, posts are refused.
	if resp, _ := cl.get("/chat/r/inc-0001-x"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat/login" {
		t.Fatalf("room page signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := cl.get("/chat/login")
	if !strings.Contains(page, `id="pick-alice"`) || !strings.Contains(page, `id="pick-bob"`) {
		t.Fatalf("the user picker lacks the users:\n%s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	var anon *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			anon = ck
		}
	}
	if anon == nil || !anon.HttpOnly || anon.SameSite != http.SameSiteStrictMode || anon.Secure {
		t.Fatalf("session cookie %+v; want HttpOnly, SameSite=Strict (not Secure on loopback)", anon)
	}

	// A login without the form's CSRF token is refused.
	if resp := cl.post("/chat/login", url.Values{"user": {"alice"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without CSRF: %d", resp.StatusCode)
	}
	resp, tok := cl.login(url.Values{"user": {"alice"}})
	if resp.StatusCode != http.StatusSeeOther || tok == "" {
		t.Fatalf("login: %d, token %q", resp.StatusCode, tok)
	}
	var fresh *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			fresh = ck
		}
	}
	if fresh == nil || fresh.Value == anon.Value {
		t.Fatal("the session id was not renewed at login")
	}

	// A POST without the CSRF token, or with a wrong one, is refused and changes nothing.
	click := url.Values{"action_id": {"tok"}}
	if resp := cl.post("/chat/r/inc-0001-x/click", click, map[string]string{"Accept": "application/json"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("click without CSRF: %d", resp.StatusCode)
	}
	if resp := cl.post("/chat/r/inc-0001-x/click", click, map[string]string{"X-CSRF-Token": "forged"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("click with a forged CSRF token: %d", resp.StatusCode)
	}
	if len(rec.got) != 0 {
		t.Fatalf("a refused POST reached the bot: %+v", rec.got)
	}
	if resp := cl.post("/chat/r/inc-0001-x/click", click, map[string]string{"X-CSRF-Token": tok, "Accept": "application/json"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("click with the CSRF token: %d", resp.StatusCode)
	}
	form := url.Values{"text": {"ack"}, "csrf": {tok}}
	if resp := cl.post("/chat/r/inc-0001-x/command", form, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("command form: %d", resp.StatusCode)
	}
	if len(rec.got) != 2 || rec.got[0].ActionID != "tok" || rec.got[1].Text != "ack" || rec.got[1].User.ID != "alice" ||
		rec.got[1].Platform != Name || rec.got[1].Room.Name != "inc-0001-x" {
		t.Fatalf("interactions %+v", rec.got)
	}
	// Without JavaScript, a private reply shows on the next page.
	if _, page := cl.get("/chat/r/inc-0001-x"); !strings.Contains(page, "Only you can see this: seen ack") {
		t.Errorf("private reply not shown after the redirect")
	}

	// Logging out ends the session.
	if resp := cl.post("/chat/logout", url.Values{"csrf": {tok}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := cl.get("/chat/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
	// An unknown user cannot be picked.
	if resp, _ := cl.login(url.Values{"user": {"mallory"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login as an unknown user: %d", resp.StatusCode)
	}
}

func TestForeignHostIsRefusedWithoutLogin(t *testing.T) {
	c, _ := newChat(t, Options{})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/chat/login", nil)
	req.Host = "attacker.example:8080" // a DNS rebinding attack
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %d", resp.StatusCode)
	}
}

func TestPasswordLogin(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newChat(t, Options{Auth: config.AuthPassword, Listen: "0.0.0.0:8080",
		Users: []User{{Name: "alice", Role: config.RoleResponder, PasswordHash: hash}}})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	cl := newClient(t, srv)
	_, page := cl.get("/chat/login")
	if strings.Contains(page, "pick-alice") || !strings.Contains(page, `type="password"`) {
		t.Fatalf("login page with passwords:\n%s", page)
	}
	if resp, _ := cl.login(url.Values{"user": {"alice"}, "password": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, tok := cl.login(url.Values{"user": {"alice"}, "password": {"correct horse"}})
	if resp.StatusCode != http.StatusSeeOther || tok == "" {
		t.Fatalf("right password: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName && !ck.Secure {
			t.Error("the session cookie is not Secure on a public address")
		}
	}
	// Five failures lock the name for a minute.
	for range 5 {
		cl.login(url.Values{"user": {"alice"}, "password": {"guess"}})
	}
	if resp, _ := cl.login(url.Values{"user": {"alice"}, "password": {"correct horse"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login during lockout: %d", resp.StatusCode)
	}
	c.clk.(*clock.Fake).Advance(61 * time.Second)
	if resp, _ := cl.login(url.Values{"user": {"alice"}, "password": {"correct horse"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after the lockout: %d", resp.StatusCode)
	}
}

func TestTokenLogin(t *testing.T) {
	c, _ := newChat(t, Options{Auth: config.AuthToken, Listen: "0.0.0.0:8080",
		Users: []User{{Name: "bob", Role: config.RoleApprover, Token: "0123456789abcdef-bob-token"}}})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	cl := newClient(t, srv)
	if resp, _ := cl.login(url.Values{"token": {"not-the-token"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if resp, tok := cl.login(url.Values{"token": {"0123456789abcdef-bob-token"}}); resp.StatusCode != http.StatusSeeOther || tok == "" {
		t.Fatalf("right token: %d", resp.StatusCode)
	}
	if _, err := New(Options{Store: c.st, Clock: c.clk, Log: c.log, Auth: config.AuthToken, Listen: "0.0.0.0:1",
		Users: []User{{Name: "x", Role: config.RoleViewer, Token: "short"}}}); err == nil {
		t.Error("a short token was accepted")
	}
}

// TestLiveUpdates reads the event stream: a new room and a new message arrive, with
// the page's own CSRF token in the message's buttons.
func TestLiveUpdates(t *testing.T) {
	c, _ := newChat(t, Options{})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	cl := newClient(t, srv)
	_, tok := cl.login(url.Values{"user": {"alice"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/chat/events", nil)
	resp, err := cl.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan [2]string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				events <- [2]string{name, strings.TrimPrefix(line, "data: ")}
			}
		}
		close(events)
	}()
	<-c.hub.joined // the stream is registered: changes from now on reach it
	room, err := c.CreateRoom(ctx, bot.RoomSpec{Name: "inc-0002-y", IncidentID: 2})
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string) string {
		t.Helper()
		for ev := range events {
			if ev[0] == want {
				return ev[1]
			}
		}
		t.Fatalf("stream ended before a %q event", want)
		return ""
	}
	if d := next("rooms"); !strings.Contains(d, "inc-0002-y") {
		t.Fatalf("rooms event %s", d)
	}
	msg := &bot.Message{Key: "opening", Header: "INC-0002", Fallback: "x", Buttons: []bot.Button{{ActionID: "a1", Label: "Ack"}}}
	if _, err := c.Post(ctx, room, msg, bot.PostOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	d := next("message")
	var ev struct {
		Room string `json:"room"`
		HTML string `json:"html"`
	}
	if err := json.Unmarshal([]byte(d), &ev); err != nil || ev.Room != "inc-0002-y" {
		t.Fatalf("message event %s: %v", d, err)
	}
	if !strings.Contains(ev.HTML, `value="`+tok+`"`) || strings.Contains(ev.HTML, csrfPlaceholder) {
		t.Errorf("the message's form does not carry this page's CSRF token:\n%s", ev.HTML)
	}
	c.CloseStreams()
	for range events {
	}
}
