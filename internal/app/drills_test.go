package app_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/drill"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// stepTimer fires at once for the waits between a scenario's alerts (under a minute),
// moving the fake clock by the wait; longer waits (polls, timeouts, jitter) never
// fire, so the test alone moves time on from there.
type stepTimer struct{ clk *clock.Fake }

func (s stepTimer) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	if d < time.Minute {
		s.clk.Advance(d)
		c <- s.clk.Now()
	}
	return c
}

// chatUser is a browser stand-in for the web chat: a cookie jar and the CSRF token.
type chatUser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

var (
	csrfRe   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	buttonRe = regexp.MustCompile(`name="action_id" value="([^"]+)"[^>]*>([^<]+)</button>`)
)

func (u *chatUser) get(path string) (int, string, string) {
	u.t.Helper()
	resp, err := u.hc.Get(u.base + path)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func (u *chatUser) post(path string, form url.Values) int {
	u.t.Helper()
	form.Set("csrf", u.csrf)
	req, _ := http.NewRequest(http.MethodPost, u.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := u.hc.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep struct {
		Text    string `json:"text"`
		Refused bool   `json:"refused"`
	}
	json.NewDecoder(resp.Body).Decode(&rep)
	if rep.Refused {
		u.t.Fatalf("POST %s %v refused: %s", path, form, rep.Text)
	}
	return resp.StatusCode
}

func signIn(t *testing.T, base, name string) *chatUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &chatUser{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	_, _, page := u.get("/chat/login")
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the login page")
	}
	u.csrf = m[1]
	form := url.Values{"user": {name}, "csrf": {u.csrf}}
	resp, err := u.hc.PostForm(base+"/chat/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, _, page = u.get("/chat/")
	if m := csrfRe.FindStringSubmatch(page); m != nil {
		u.csrf = m[1]
	} else {
		t.Fatalf("%s is not signed in", name)
	}
	return u
}

// button returns the action id of the room's button whose label starts with label,
// waiting (bounded) for the room to show it.
func (u *chatUser) button(room, label string) string {
	u.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, page := u.get("/chat/r/" + room)
		for _, m := range buttonRe.FindAllStringSubmatch(page, -1) {
			if strings.HasPrefix(html.UnescapeString(strings.TrimSpace(m[2])), label) {
				return m[1]
			}
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("room %s shows no %q button:\n%s", room, label, page)
		}
		time.Sleep(20 * time.Millisecond) // polling a page: nothing to await
	}
}

// eventually polls cond, bounded, for state that has no event to await.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling stored state: nothing to await
	}
}

// TestDrillEndToEndOnTheWebChat runs the example configuration's scheduled scenario
// (the SSH brute force) through the real path: the drill's alerts are decoded by the
// Suricata decoder and correlated into a drill incident, whose drill- room on the web
// chat gets the banner, the playbook and buttons. Alice acknowledges and Bob approves
// the block with clicks, Alice resolves with a typed command; the block ran in
// dry-run, so the EDL stays empty. The run's measures come from the stored
// timestamps exactly, are posted in the room, and appear in the report and on the
// web chat's drill page with its chart.
func TestDrillEndToEndOnTheWebChat(t *testing.T) {
	cfg, err := config.Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "warroom.db")
	cfg.LogLevel = "error"
	cfg.GenerateMissingSecrets = false
	cfg.API.Tokens = append(cfg.API.Tokens,
		config.APIToken{Identity: "alice", Role: config.RoleResponder, Secret: config.Secret{TokenEnv: "ALICE_TOKEN"}})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.Drills.Enabled || len(cfg.Drills.Schedules) == 0 {
		t.Fatal("the example configuration schedules no drill")
	}
	scenario := cfg.Drills.Schedules[0].Scenario
	env := map[string]string{"WARROOM_INGEST_TOKEN": ingestTok, "WARROOM_API_TOKEN": "admin-token", "ALICE_TOKEN": aliceTok}
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	a, err := app.New(context.Background(), cfg, app.Options{Clock: clk, Getenv: func(k string) string { return env[k] },
		Log: app.NewLogger("error"), DrillTimer: stepTimer{clk}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	events, stopEvents := a.Actions.Subscribe()
	stopActions := a.StartActions(ctx)
	stopChat := a.StartChat(ctx)
	stopDrills := a.StartDrills(ctx)
	srv := httptest.NewServer(a.API.Handler())
	t.Cleanup(func() {
		srv.Close()
		stopDrills()
		stopChat()
		stopActions()
		stopEvents()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	// Start the drill over the API, as `warroom drill run` does.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/drills/runs", strings.NewReader(`{"scenario":"`+scenario+`"}`))
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var run store.DrillRun
	json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || run.ID == "" || run.Status != store.DrillRunning {
		t.Fatalf("start: %d %+v", resp.StatusCode, run)
	}

	// The playbook proposes the block of the (documentation-range) attacker.
	var proposed *model.Action
	deadline := time.After(60 * time.Second)
	for proposed == nil {
		select {
		case ev := <-events:
			if ev.Kind == "proposed" && ev.Action != nil {
				proposed = ev.Action
			}
		case <-deadline:
			t.Fatal("no proposal for the drill incident")
		}
	}
	if !proposed.DryRun || proposed.Kind != "block_ip" || proposed.Playbook != "ssh-rdp-bruteforce" {
		t.Fatalf("proposal %+v; want a dry-run block from the brute-force playbook", proposed)
	}
	inc, err := a.Store.Incident(ctx, proposed.IncidentID)
	if err != nil || inc.Kind != model.KindDrill || inc.DrillID != run.ID {
		t.Fatalf("incident %+v %v; want a drill incident of run %s", inc, err, run.ID)
	}
	eventually(t, "all the scenario's alerts", func() bool {
		inc, err = a.Store.Incident(ctx, proposed.IncidentID)
		return err == nil && inc.AlertCount == 8
	})
	var room *store.LocalRoom
	eventually(t, "the drill room", func() bool {
		rooms, _ := a.Store.LocalRooms(ctx)
		for _, r := range rooms {
			if r.IncidentID == inc.ID {
				room = r
			}
		}
		return room != nil
	})
	if !strings.HasPrefix(room.Name, "drill-") {
		t.Errorf("room %q; want a drill- room", room.Name)
	}
	alice, bob := signIn(t, srv.URL, "alice"), signIn(t, srv.URL, "bob")
	if _, _, page := alice.get("/chat/r/" + room.Name); !strings.Contains(page, "This is a drill") {
		t.Errorf("the drill room has no drill banner")
	}

	clk.Set(t0.Add(5 * time.Minute))
	alice.post("/chat/r/"+room.Name+"/click", url.Values{"action_id": {alice.button(room.Name, "Acknowledge")}})
	clk.Set(t0.Add(7 * time.Minute))
	label := "Block " + strings.TrimSuffix(proposed.Target, "/32")
	bob.post("/chat/r/"+room.Name+"/click", url.Values{"action_id": {bob.button(room.Name, label)}})
	deadline = time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-events:
			done = ev.Kind == "succeeded" && ev.ActionID == proposed.ID
			if ev.Kind == "failed" {
				t.Fatalf("the block failed: %+v", ev.Action)
			}
		case <-deadline:
			t.Fatal("the approved block did not run")
		}
	}
	eventually(t, "the drill incident contained", func() bool {
		inc, _ = a.Store.Incident(ctx, inc.ID)
		return inc.Status == model.StatusContained
	})
	clk.Set(t0.Add(12 * time.Minute))
	alice.post("/chat/r/"+room.Name+"/command", url.Values{"text": {"resolve drill done"}})

	var done *store.DrillRun
	eventually(t, "the end of the run", func() bool {
		done, err = a.Store.DrillRun(ctx, run.ID)
		return err == nil && done.Status.Final()
	})
	if done.Status != store.DrillCompleted || done.IncidentID != inc.ID {
		t.Fatalf("run %+v; want completed on %s", done, inc.Number)
	}
	var m drill.Measures
	if err := json.Unmarshal(done.Measures, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"tta": 300, "approval": 420, "ttc": 420, "ttr": 720}
	got := map[string]*float64{"tta": m.TTA, "approval": m.TTApproval, "ttc": m.TTC, "ttr": m.TTR}
	for k, w := range want {
		if got[k] == nil || *got[k] != w {
			t.Errorf("%s = %v; want %vs exactly", k, got[k], w)
		}
	}
	if strings.Join(m.Participants, ",") != "local:alice,local:bob" || strings.Join(m.Platforms, ",") != "local" {
		t.Errorf("participants %v, platforms %v", m.Participants, m.Platforms)
	}

	// Nothing reached a live enforcement point.
	er, err := http.Get(srv.URL + "/edl/warroom-block.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(er.Body)
	er.Body.Close()
	if er.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "" {
		t.Errorf("EDL: %d %q; a drill must leave it empty", er.StatusCode, body)
	}
	acts, _ := a.Store.Actions(ctx, inc.ID)
	for _, x := range acts {
		if !x.DryRun {
			t.Errorf("drill action %+v is not a dry run", x)
		}
	}

	// The measures are posted in the room, and the report has them.
	eventually(t, "the drill's measures in its room", func() bool {
		msgs, _ := a.Store.LocalMessages(ctx, room.ID)
		for _, msg := range msgs {
			if strings.Contains(string(msg.Body), "Drill "+run.ID) && strings.Contains(string(msg.Body), "resolve 12m00s") {
				return true
			}
		}
		return false
	})
	// In the web chat the summary carries the TTR chart.
	if code, _, page := alice.get("/chat/r/" + room.Name); code != http.StatusOK ||
		!strings.Contains(page, `<img src="/chat/drills/ttr.png" alt="Time to resolve per drill run, per scenario, last 90 days"`) {
		t.Errorf("room page without the drill chart: %d\n%s", code, page)
	}
	rep, err := drill.Load(ctx, a.Store, t0.Add(-time.Hour), t0.Add(time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 1 || rep.Scenarios[0].Name != scenario || rep.Scenarios[0].TTR.Median == nil ||
		*rep.Scenarios[0].TTR.Median != 720 || rep.Real.Runs != 0 {
		t.Fatalf("report %+v", rep)
	}
	code, ctype, page := alice.get("/chat/drills")
	if code != http.StatusOK || !strings.Contains(page, scenario) || !strings.Contains(page, "12m00s") ||
		!strings.Contains(page, `src="/chat/drills/ttr.png"`) {
		t.Errorf("drill page: %d %s\n%s", code, ctype, page)
	}
	code, ctype, png := alice.get("/chat/drills/ttr.png")
	if code != http.StatusOK || ctype != "image/png" || len(png) < 1000 || !strings.HasPrefix(png, "\x89PNG") {
		t.Errorf("chart: %d %s, %d bytes", code, ctype, len(png))
	}
	_ = actions.System
}

// TestDrillEndpointsRequireAPIAuth checks the drill API starts and shows runs only
// for an API identity with the role each needs, and that a refused request starts
// nothing.
func TestDrillEndpointsRequireAPIAuth(t *testing.T) {
	cfg, err := config.Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "warroom.db")
	cfg.LogLevel = "error"
	cfg.GenerateMissingSecrets = false
	cfg.API.Tokens = append(cfg.API.Tokens,
		config.APIToken{Identity: "victor", Role: config.RoleViewer, Secret: config.Secret{TokenEnv: "VICTOR_TOKEN"}})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARROOM_INGEST_TOKEN": ingestTok, "WARROOM_API_TOKEN": "admin-token", "VICTOR_TOKEN": "victor-viewer-token"}
	clk := clock.NewFake(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	a, err := app.New(context.Background(), cfg, app.Options{Clock: clk, Getenv: func(k string) string { return env[k] },
		Log: app.NewLogger("error"), DrillTimer: stepTimer{clk}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.API.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	scenario := cfg.Drills.Schedules[0].Scenario
	for _, c := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"start without a token", http.MethodPost, "/api/v1/drills/runs", "", http.StatusUnauthorized},
		{"start with a wrong token", http.MethodPost, "/api/v1/drills/runs", "not-a-token", http.StatusUnauthorized},
		{"start as a viewer", http.MethodPost, "/api/v1/drills/runs", "victor-viewer-token", http.StatusForbidden},
		{"read without a token", http.MethodGet, "/api/v1/drills/runs/dr-1", "", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(`{"scenario":"`+scenario+`"}`))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d; want %d", c.name, resp.StatusCode, c.want)
		}
	}
	runs, err := a.Store.DrillRuns(context.Background(), store.DrillFilter{})
	if err != nil || len(runs) != 0 {
		t.Fatalf("runs %v %v; a refused request must start none", runs, err)
	}
}
