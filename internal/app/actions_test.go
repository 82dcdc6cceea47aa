package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/sinks/sinktest"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/scenario"
)

const (
	ingestTok = "ingest-token-for-actions"
	aliceTok  = "alice-token-responder"
	bobTok    = "bob-token-approver"
)

// bruteForce returns the dev corpus's SSH brute force (the A-bruteforce lines: source
// 203.0.113.45, destination port 22) as NDJSON, and the attacker's address. Without
// the shared corpus it generates the same campaign with triage/scenario.
func bruteForce(t *testing.T) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	if f, err := os.Open("/work/shared/corpus/dev/suricata.ndjson"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev struct {
				Src  string `json:"src_ip"`
				Port int    `json:"dest_port"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Src == "203.0.113.45" && ev.Port == 22 {
				buf.Write(sc.Bytes())
				buf.WriteByte('\n')
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if buf.Len() > 0 {
			return buf.Bytes(), "203.0.113.45"
		}
	}
	c := scenario.Generate(1, scenario.Options{Noise: 1, AMNoise: 1, Late: -1})
	attacker := ""
	for i, line := range c.EVE {
		if c.EVELabels[i] != "A-bruteforce" {
			continue
		}
		var ev struct {
			Src string `json:"src_ip"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		attacker = ev.Src
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if attacker == "" {
		t.Fatal("the generated corpus has no A-bruteforce campaign")
	}
	return buf.Bytes(), attacker
}

// responseServer runs the example configuration with two people — alice, a
// responder, and bob, an approver — on a fake clock, behind a loopback HTTP server,
// with the actions engine running.
type responseServer struct {
	*httptest.Server
	App          *app.App
	Clock        *clock.Fake
	Alice, Bob   *api.Client
	Events       <-chan actions.Event
	stopEvents   func()
	stopActions  func()
	ingestClient *api.Client
}

func newResponseServer(t *testing.T, mutate func(*config.Config)) *responseServer {
	t.Helper()
	cfg, err := config.Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "warroom.db")
	cfg.LogLevel = "error"
	cfg.GenerateMissingSecrets = false
	cfg.API.Tokens = append(cfg.API.Tokens,
		config.APIToken{Identity: "alice", Role: config.RoleResponder, Secret: config.Secret{TokenEnv: "ALICE_TOKEN"}},
		config.APIToken{Identity: "bob", Role: config.RoleApprover, Secret: config.Secret{TokenEnv: "BOB_TOKEN"}})
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARROOM_INGEST_TOKEN": ingestTok, "WARROOM_API_TOKEN": "admin-token", "ALICE_TOKEN": aliceTok, "BOB_TOKEN": bobTok}
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	a, err := app.New(context.Background(), cfg, app.Options{Clock: clk, Getenv: func(k string) string { return env[k] }, Log: app.NewLogger("error")})
	if err != nil {
		t.Fatal(err)
	}
	s := &responseServer{App: a, Clock: clk}
	s.Events, s.stopEvents = a.Actions.Subscribe()
	s.stopActions = a.StartActions(context.Background())
	s.Server = httptest.NewServer(a.API.Handler())
	t.Cleanup(func() {
		s.Server.Close()
		s.stopActions()
		s.stopEvents()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	s.Alice = &api.Client{Base: s.URL, APIToken: aliceTok}
	s.Bob = &api.Client{Base: s.URL, APIToken: bobTok}
	s.ingestClient = &api.Client{Base: s.URL, IngestToken: ingestTok}
	return s
}

// await returns the first engine event that satisfies ok.
func (s *responseServer) await(t *testing.T, what string, ok func(actions.Event) bool) actions.Event {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case ev := <-s.Events:
			if ok(ev) {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("no %s from the actions engine", what)
		}
	}
}

func (s *responseServer) edl(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/edl/warroom-block.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("GET /edl/warroom-block.txt: %d %q", resp.StatusCode, b)
	}
	return string(b)
}

func wantStatus(t *testing.T, err error, code int, sub string) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != code || !strings.Contains(se.Msg, sub) {
		t.Fatalf("error %v; want %d mentioning %q", err, code, sub)
	}
}

// bruteForceFlow is the done-criterion through the API alone: the brute force
// from the dev corpus gets its playbook and a proposed block of the attacker; the
// requester cannot approve, a second identity does; the block is in place and
// verified (present checks the enforcement point); and when its TTL ends on the
// clock, it is rolled back (present turns false). It returns the action.
func bruteForceFlow(t *testing.T, s *responseServer, connector, diff string, present func() bool) *model.Action {
	t.Helper()
	ctx := context.Background()
	body, attacker := bruteForce(t)
	target := attacker + "/32"
	res, err := s.ingestClient.Ingest(ctx, "suricata", "application/x-ndjson", body)
	if err != nil || res.Accepted == 0 || len(res.Rejected) != 0 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	ev := s.await(t, "proposal of the block", func(ev actions.Event) bool {
		return ev.Kind == "proposed" && ev.Action.Target == target
	})
	ref := model.IncidentNumber(ev.IncidentID)

	inc, err := s.Alice.Incident(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Playbook != "ssh-rdp-bruteforce" || inc.Category != model.CategoryBruteforce {
		t.Fatalf("incident %s: playbook %q category %s", ref, inc.Playbook, inc.Category)
	}
	sawPlaybook := false
	for _, e := range inc.Timeline {
		sawPlaybook = sawPlaybook || e.Kind == "playbook" && strings.Contains(e.Text, "ssh-rdp-bruteforce")
	}
	if !sawPlaybook {
		t.Errorf("the timeline does not record the playbook: %+v", inc.Timeline)
	}
	list, err := s.Alice.Actions(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d proposed actions, want 1: %+v", len(list), list)
	}
	a := list[0]
	if a.Kind != "block_ip" || a.Target != target || a.Connector != connector || a.State != model.ActionProposed ||
		a.PlaybookAction != "block-attacker" || a.RequestedBy != "warroom" || a.TTL != 24*time.Hour || a.Diff != diff {
		t.Fatalf("proposed action: %+v", a)
	}
	if p, err := s.Bob.PreviewAction(ctx, a.ID); err != nil || p.Diff != diff {
		t.Fatalf("preview: %+v %v", p, err)
	}

	// alice asks for the same block: she gets the standing action, not a second one.
	same, err := s.Alice.ProposeAction(ctx, ref, api.ProposeRequest{Kind: "block_ip", Target: attacker, TTL: "24h", Connector: connector})
	if err != nil || same.ID != a.ID {
		t.Fatalf("alice's request of the same block: %+v %v", same, err)
	}
	// The responder cannot approve it; nothing runs.
	_, err = s.Alice.ApproveAction(ctx, a.ID)
	wantStatus(t, err, http.StatusForbidden, "refused by role: alice has role responder")
	if present() {
		t.Fatal("the block is in place before any approval")
	}
	// bob, the second identity, approves: it runs at once and is verified.
	done, err := s.Bob.ApproveAction(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != model.ActionSucceeded || !done.Verified || done.Verification == "" || len(done.Approvals) != 1 ||
		done.Approvals[0].By != "bob" || done.ExpiresAt == nil {
		t.Fatalf("after bob's approval: %+v", done)
	}
	if !present() {
		t.Fatal("the block is not in place after the approval")
	}
	// The verified containment marks the incident contained, by bob, at that time.
	detail, err := s.Alice.Incident(ctx, ref)
	if err != nil || detail.Status != model.StatusContained || detail.ContainedAt == nil || !detail.ContainedAt.Equal(*done.ExecutedAt) {
		t.Fatalf("incident after the verified block: %+v %v", detail.Incident, err)
	}
	containedBy := ""
	for _, ev := range detail.Timeline {
		if ev.Kind == "status" && strings.Contains(ev.Text, "contained") {
			containedBy = ev.Actor
		}
	}
	if containedBy != "bob" {
		t.Errorf("timeline records the containment by %q; want bob", containedBy)
	}

	// The SIEM sinks forward the audit log: the whole life cycle is there, attributed.
	entries, err := s.App.Store.Audit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range entries {
		var d map[string]any
		if !strings.HasPrefix(e.Action, "action.") || json.Unmarshal(e.Detail, &d) != nil || d["action_id"] != float64(a.ID) {
			continue
		}
		if e.Subject != ref || d["target"] != target || d["connector"] != connector {
			t.Errorf("audit entry %s lacks the action's identity: %s", e.Action, e.Detail)
		}
		trail = append(trail, e.Actor+":"+e.Action)
	}
	if got, want := strings.Join(trail, " "), "warroom:action.proposed alice:action.refused bob:action.approved bob:action.running bob:action.succeeded"; got != want {
		t.Errorf("audit trail\n got %s\nwant %s", got, want)
	}

	// The TTL ends on the clock: the scheduler rolls the block back.
	s.Clock.Advance(24*time.Hour + time.Second)
	s.App.Actions.Wake()
	s.await(t, "expiry of the block", func(ev actions.Event) bool { return ev.Kind == "expired" && ev.ActionID == a.ID })
	after, err := s.Alice.Action(ctx, a.ID)
	if err != nil || after.State != model.ActionExpired || after.RevertedAt == nil {
		t.Fatalf("after the TTL: %+v %v", after, err)
	}
	if present() {
		t.Fatal("the block is still in place after its TTL")
	}
	return done
}

func TestBruteForceBlockedThroughTheAPI(t *testing.T) {
	// The SIEM side of the closed loop: a strict Splunk HEC fake and a strict
	// Elasticsearch fake receive every record.
	hec := sinktest.NewHEC(t, "hec-token-for-test")
	es := sinktest.NewElastic(t, sinktest.ElasticAuth{APIKey: "ZXMta2V5LWZvci10ZXN0"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hec"), []byte("hec-token-for-test"), 0o600)
	os.WriteFile(filepath.Join(dir, "es"), []byte("ZXMta2V5LWZvci10ZXN0"), 0o600)
	s := newResponseServer(t, func(c *config.Config) {
		sc, err := sinks.ParseConfig([]byte(fmt.Sprintf(`outputs:
  - {name: splunk, type: splunk, url: %q, token_file: %q}
  - {name: elastic, type: elastic, url: %q, index: warroom-events, auth: api_key, token_file: %q}
`, hec.URL(), filepath.Join(dir, "hec"), es.URL(), filepath.Join(dir, "es"))))
		if err != nil {
			t.Fatal(err)
		}
		c.Sinks = sc
	})
	ctx := context.Background()
	sctx, stopSinks := context.WithCancel(ctx)
	defer s.App.StartSinks(sctx)()
	defer stopSinks()
	bruteForceFlow(t, s, "edl", "add 203.0.113.45/32 to EDL warroom-block, timeout 24h", func() bool {
		return strings.Contains(s.edl(t), "203.0.113.45\n")
	})
	// Every action step of the flow reached both SIEMs: the proposal, the refusal of
	// the requester's own approval, the approval, success and the rollback at expiry.
	wantTypes := []string{"incident.open", "incident.playbook", "action.proposed", "action.refused", "action.approved",
		"action.succeeded", "action.expired"}
	seen := func(types []string) bool {
		got := map[string]bool{}
		for _, ty := range types {
			got[ty] = true
		}
		for _, w := range wantTypes {
			if !got[w] {
				return false
			}
		}
		return true
	}
	// Every audit entry so far goes to both; wait for that many.
	entries, err := s.App.Store.Audit(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := hec.Wait(wctx, len(entries)); err != nil {
		t.Fatalf("HEC got %d of %d records: %v", len(hec.Events()), len(entries), err)
	}
	if err := es.Wait(wctx, len(entries)); err != nil {
		t.Fatalf("Elasticsearch got %d of %d records: %v", len(es.Docs()), len(entries), err)
	}
	var hecTypes, esTypes []string
	for _, ev := range hec.Events() {
		var e sinks.Event
		if json.Unmarshal(ev.Event, &e) == nil {
			hecTypes = append(hecTypes, string(e.Type))
		}
	}
	for _, d := range es.Docs() {
		var e sinks.Event
		if json.Unmarshal(d.Source, &e) == nil {
			esTypes = append(esTypes, string(e.Type))
		}
	}
	if !seen(hecTypes) || !seen(esTypes) {
		t.Fatalf("SIEM records incomplete; HEC got %v, Elasticsearch got %v; want all of %v", hecTypes, esTypes, wantTypes)
	}

	// The rules about people and the guardrails, through the API.
	list, err := s.Bob.Actions(ctx, "INC-0001")
	if err != nil || len(list) == 0 {
		t.Fatalf("actions: %+v %v", list, err)
	}
	ref := model.IncidentNumber(list[0].IncidentID)
	own, err := s.Bob.ProposeAction(ctx, ref, api.ProposeRequest{Kind: "block_ip", Target: "198.51.100.77", TTL: "2h", Note: "seen in the proxy logs"})
	if err != nil || own.RequestedBy != "bob" || own.State != model.ActionProposed || own.Connector != "edl" {
		t.Fatalf("bob's proposal: %+v %v", own, err)
	}
	_, err = s.Bob.ApproveAction(ctx, own.ID)
	wantStatus(t, err, http.StatusForbidden, "refused by two_person: bob requested this action")
	_, err = s.Alice.RejectAction(ctx, own.ID, "not ours")
	wantStatus(t, err, http.StatusForbidden, "refused by role")
	if got, err := s.Bob.RejectAction(ctx, own.ID, "withdrawn"); err != nil || got.State != model.ActionRejected {
		t.Fatalf("bob withdrawing: %+v %v", got, err)
	}
	_, err = s.Bob.ExecuteAction(ctx, own.ID)
	wantStatus(t, err, http.StatusConflict, "is rejected: it cannot be executed")
	_, err = s.Alice.ProposeAction(ctx, ref, api.ProposeRequest{Kind: "block_ip", Target: "10.0.0.5"})
	wantStatus(t, err, http.StatusUnprocessableEntity, "refused by never_block: 10.0.0.5 is inside 10.0.0.0/8 (rfc1918)")
	_, err = s.Alice.ProposeAction(ctx, ref, api.ProposeRequest{Kind: "block_ip", Target: "198.51.100.0/24"})
	wantStatus(t, err, http.StatusUnprocessableEntity, "refused by max_breadth")
	_, err = s.Alice.ProposeAction(ctx, ref, api.ProposeRequest{Kind: "block_ip", Target: "198.51.100.9", TTL: "9000h"})
	wantStatus(t, err, http.StatusUnprocessableEntity, "refused by ttl: ttl 9000h is longer than the maximum 720h")
	_, err = s.Alice.ProposeAction(ctx, ref, api.ProposeRequest{Kind: "block_ip", Target: "not an address"})
	wantStatus(t, err, http.StatusBadRequest, "invalid action")
	_, err = s.Alice.Action(ctx, 999)
	wantStatus(t, err, http.StatusNotFound, "not found")
	_, err = s.Alice.Actions(ctx, "INC-0999")
	wantStatus(t, err, http.StatusNotFound, "not found")
	viewer := &api.Client{Base: s.URL, APIToken: "nobody"}
	_, err = viewer.Actions(ctx, ref)
	wantStatus(t, err, http.StatusUnauthorized, "unauthorized")
}

// TestBruteForceBlockedInNftables runs the same flow with the block going to a real
// nftables set in a network namespace the test creates, and reads the set back from
// the kernel.
func TestBruteForceBlockedInNftables(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create a network namespace and nf_tables rules (run the tests as root, as CI does)")
	}
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("skipped: needs the ip command (Debian package iproute2)")
	}
	ns := fmt.Sprintf("wr-actions-%d", os.Getpid())
	if out, err := exec.Command(ipCmd, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ipCmd, "netns", "del", ns).Run() })
	nsFile, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nsFile.Close()

	// A user playbook replaces the built-in brute-force playbook's connector.
	builtin, err := os.ReadFile("../../playbooks/builtin/ssh-rdp-bruteforce.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ssh.yaml"), bytes.Replace(builtin, []byte("connector: edl"), []byte("connector: nft"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newResponseServer(t, func(c *config.Config) {
		c.Connectors = append(c.Connectors, config.Connector{Name: "nft", Type: "nftables",
			Settings: []byte("netns: " + ns + "\ntable: warroom\nset4: warroom_block4\n")})
		c.Playbooks.Dir = dir
	})
	conn, err := nft.New(nft.WithNetNSFd(int(nsFile.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	inSet := func(addr string) bool {
		t.Helper()
		table := &nft.Table{Name: "warroom", Family: nft.TableFamilyINet}
		set, err := conn.GetSetByName(table, "warroom_block4")
		if err != nil {
			return false // no table or set yet: nothing is blocked
		}
		elems, err := conn.GetSetElements(set)
		if err != nil {
			t.Fatalf("reading the set back: %v", err)
		}
		want := netip.MustParseAddr(addr).AsSlice()
		for _, e := range elems {
			if !e.IntervalEnd && bytes.Equal(e.Key, want) {
				return true
			}
		}
		return false
	}
	bruteForceFlow(t, s, "nft", "add 203.0.113.45/32 to set warroom_block4, timeout 24h", func() bool {
		return inSet("203.0.113.45")
	})
	// The EDL was not involved.
	if body := s.edl(t); body != "" {
		t.Errorf("the EDL lists %q", body)
	}
}
