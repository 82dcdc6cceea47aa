package bot

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
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

func TestRoomName(t *testing.T) {
	for _, tc := range []struct {
		id    int64
		kind  model.Kind
		title string
		want  string
	}{
		{42, model.KindNormal, "SSH brute force from 203.0.113.45 against 2 hosts", "inc-0042-ssh-brute-force-203-0-113-45"},
		{42, model.KindNormal, "SSH brute force from 203.0.113.7 against 3 hosts", "inc-0042-ssh-brute-force-203-0-113-7"},
		{7, model.KindDrill, "SSH brute force from 198.51.100.9 against 10.0.0.5", "drill-0007-ssh-brute-force-198-51-100-9-10-0-0-5"},
		{3, model.KindNormal, "C2 beaconing from host 10.1.2.3 and 2 other hosts", "inc-0003-c2-beaconing-10-1-2-3"},
		{12345, model.KindNormal, "SYN flood against 192.0.2.10 from 120+ sources", "inc-12345-syn-flood-192-0-2-10"},
		{9, model.KindNormal, "DNS tunnelling from 2001:db8::7 via resolver.example.", "inc-0009-dns-tunnelling-2001-db8-7-resolver-example"},
		{5, model.KindNormal, "<!channel> *Ünïcode* @everyone", "inc-0005-channel-n-code-everyone"},
		{6, model.KindNormal, "", "inc-0006"},
		{8, model.KindNormal, strings.Repeat("verylongword ", 20), "inc-0008-verylongword-verylongword-verylongword-verylongword-verylongword"},
	} {
		got := RoomName(&model.Incident{ID: tc.id, Kind: tc.kind, Title: tc.title})
		if got != tc.want {
			t.Errorf("RoomName(%q) = %q, want %q", tc.title, got, tc.want)
		}
		if len(got) > MaxRoomName || strings.ToLower(got) != got || strings.HasSuffix(got, "-") {
			t.Errorf("RoomName(%q) = %q breaks the name rules", tc.title, got)
		}
	}
}

func TestUniqueNameSuffixesCollisions(t *testing.T) {
	taken := map[string]bool{"inc-0001-x": true, "inc-0001-x-2": true}
	got, err := UniqueName("inc-0001-x", func(n string) (bool, error) { return taken[n], nil })
	if err != nil || got != "inc-0001-x-3" {
		t.Fatalf("UniqueName = %q, %v; want inc-0001-x-3", got, err)
	}
	long := "inc-0001-" + strings.Repeat("a", 71)
	got, _ = UniqueName(long, func(n string) (bool, error) { return n == long, nil })
	if len(got) > MaxRoomName || !strings.HasSuffix(got, "-2") {
		t.Fatalf("suffixed long name %q (%d chars)", got, len(got))
	}
}

func TestEscapeSlack(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<!channel> look", "&lt;!channel&gt; look"},
		{"<!here|here> <!everyone>", "&lt;!here|here&gt; &lt;!everyone&gt;"},
		{"ping <@U123ABC> and <#C42>", "ping &lt;@\u200bU123ABC&gt; and &lt;#C42&gt;"},
		{"@channel @here @everyone @bob", "@\u200bchannel @\u200bhere @\u200beveryone @\u200bbob"},
		{"*bold* _it_ ~s~ `code`", "*\u200bbold*\u200b _\u200bit_\u200b ~\u200bs~\u200b `\u200bcode`\u200b"},
		{"<https://evil.example|click here>", "&lt;https://evil.example|click here&gt;"},
		{"> quoted\nnot > quoted", "\u200b&gt; quoted\nnot &gt; quoted"},
		{"a & b <b>html</b>", "a &amp; b &lt;b&gt;html&lt;/b&gt;"},
		{"bell\x07 and \u202eevil", "bell and evil"},
		{"203.0.113.45/32", "203.0.113.45/32"},
	} {
		if got := EscapeSlack(tc.in); got != tc.want {
			t.Errorf("EscapeSlack(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEscapeDiscord(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"@everyone @here", "@\u200beveryone @\u200bhere"},
		{"<@123> <@&456> <#789> </warroom:1> <t:1700000000>", "<\u200b@\u200b123\\> <\u200b@\u200b&456\\> <\u200b\\#789\\> <\u200b/warroom\\:1\\> <\u200bt\\:1700000000\\>"},
		{"**bold** __u__ ~~s~~ `c` ||spoiler||", "\\*\\*bold\\*\\* \\_\\_u\\_\\_ \\~\\~s\\~\\~ \\`c\\` \\|\\|spoiler\\|\\|"},
		{"[click](https://evil.example)", "\\[click\\]\\(https\\://evil.example\\)"},
		{"# heading\n> quote\n- item", "\\# heading\n\\> quote\n\\- item"},
		{`back\slash`, `back\\slash`},
		{"<script>alert(1)</script>", "<\u200bscript\\>alert\\(1\\)<\u200b/script\\>"},
		{"bell\x07 \u202e", "bell "},
	} {
		if got := EscapeDiscord(tc.in); got != tc.want {
			t.Errorf("EscapeDiscord(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://siem.example/alert/1": "https://siem.example/alert/1",
		"http://prom:9090/graph?g0=x":  "http://prom:9090/graph?g0=x",
		"javascript:alert(1)":          "",
		"data:text/html,hi":            "",
		"https://user:pw@host/x":       "",
		"//host/x":                     "",
		"not a url":                    "",
	} {
		if got := SafeURL(in); got != want {
			t.Errorf("SafeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRoles(t *testing.T) {
	r, err := NewRoles([]RoleBinding{
		{Platform: "slack", User: "U1", Role: config.RoleResponder},
		{Platform: "slack", Group: "S-oncall", Role: config.RoleApprover},
		{Platform: "slack", User: "U1", Role: config.RoleViewer}, // the higher role stays
		{Platform: "discord", Group: "role-admin", Role: config.RoleAdmin},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		platform string
		u        User
		want     config.Role
	}{
		{"slack", User{ID: "U1"}, config.RoleResponder},
		{"slack", User{ID: "U1", Groups: []string{"S-oncall"}}, config.RoleApprover},
		{"slack", User{ID: "U2"}, ""},
		{"discord", User{ID: "U1"}, ""}, // bindings are per platform
		{"discord", User{ID: "9", Groups: []string{"role-admin"}}, config.RoleAdmin},
	} {
		if got := r.Of(tc.platform, tc.u); got != tc.want {
			t.Errorf("Of(%s, %+v) = %q, want %q", tc.platform, tc.u, got, tc.want)
		}
	}
	def, _ := NewRoles(nil, config.RoleViewer)
	if got := def.Of("slack", User{ID: "anyone"}); got != config.RoleViewer {
		t.Errorf("default role: %q", got)
	}
	for _, bad := range [][]RoleBinding{
		{{Platform: "slack", Role: config.RoleViewer}},
		{{Platform: "slack", User: "U", Group: "G", Role: config.RoleViewer}},
		{{Platform: "slack", User: "U", Role: "root"}},
	} {
		if _, err := NewRoles(bad, ""); err == nil {
			t.Errorf("NewRoles(%+v) accepted", bad)
		}
	}
}

// sampleView is a brute-force incident with a playbook, a suggestion, and actions in
// several states. Alert text carries mentions and markup that must stay inert.
func sampleView() *View {
	t0 := time.Date(2026, 11, 20, 9, 5, 0, 0, time.UTC)
	exp := t0.Add(24 * time.Hour)
	inc := &model.Incident{
		ID: 42, Number: "INC-0042", Title: "SSH brute force from 203.0.113.45 against 2 hosts", Kind: model.KindNormal,
		Status: model.StatusOpen, Severity: model.SeverityHigh, Category: model.CategoryBruteforce, Notifiable: true,
		AlertCount: 150, FirstSeen: t0, LastSeen: t0.Add(7 * time.Minute), OpenedAt: t0,
		Entities: []model.Entity{
			{Kind: model.EntityIP, Value: "203.0.113.45", Role: model.RoleSrc},
			{Kind: model.EntityIP, Value: "172.16.5.11", Role: model.RoleDst},
			{Kind: model.EntityIP, Value: "172.16.5.10", Role: model.RoleDst},
			{Kind: model.EntityUser, Value: "root", Role: model.RoleObserver},
			{Kind: model.EntityCommunityID, Value: "1:abc=", Role: model.RoleObserver},
		},
	}
	return &View{
		Incident:  inc,
		Commander: "local:alice",
		Stats: &store.ChatAlertStats{Total: 150, First: t0, Last: t0.Add(7 * time.Minute), MaxID: 150,
			Rules: []store.RuleCount{
				{Rule: "ET SCAN Potential SSH Scan", Count: 148, MaxSeverity: model.SeverityMedium},
				{Rule: "<!channel> @everyone *pwned* <script>", Count: 2, MaxSeverity: model.SeverityHigh},
			},
			Links: []string{"https://siem.example/alerts/1", "javascript:alert(1)"}},
		Playbook: &PlaybookInfo{ID: "ssh-rdp-bruteforce", Title: "SSH / RDP brute force from outside",
			Checklist: []string{"Confirm the sources are not a partner.", "Approve the block of the attacking addresses."}},
		Proposals: []Proposal{{Playbook: "ssh-rdp-bruteforce", PlaybookAction: "block-attacker", Kind: "block_ip",
			Target: "203.0.113.45/32", Connector: "edl", TTL: 24 * time.Hour, Approvers: 1, TwoPerson: true}},
		Actions: []*model.Action{
			{ID: 7, IncidentID: 42, Kind: "block_ip", Target: "198.51.100.9/32", Connector: "edl", TTL: 24 * time.Hour,
				State: model.ActionProposed, RequestedBy: "local:alice", Policy: model.ApprovalPolicy{Approvers: 1, TwoPerson: true},
				Diff: "add 198.51.100.9/32 to EDL blocklist, expires in 24h"},
			{ID: 8, IncidentID: 42, Kind: "block_ip", Target: "198.51.100.10/32", Connector: "edl", TTL: 24 * time.Hour,
				State: model.ActionSucceeded, RequestedBy: "local:alice", Verified: true, ExpiresAt: &exp},
			{ID: 9, IncidentID: 42, Kind: "isolate_host", Target: "web-1", Connector: "edr", State: model.ActionFailed,
				RequestedBy: "local:bob", Error: "edr: 503 <@U999> unavailable"},
			// Proposed by the playbook through the response engine; asked for in chat.
			{ID: 10, IncidentID: 42, Kind: "block_ip", Target: "198.51.100.11/32", Connector: "edl", TTL: 24 * time.Hour,
				State: model.ActionProposed, RequestedBy: "warroom", Policy: model.ApprovalPolicy{Approvers: 1, TwoPerson: true}},
			// Proposed by the playbook; nobody asked yet.
			{ID: 11, IncidentID: 42, Kind: "block_ip", Target: "198.51.100.12/32", Connector: "edl", TTL: 7 * 24 * time.Hour,
				State: model.ActionProposed, RequestedBy: "warroom", Policy: model.ApprovalPolicy{Approvers: 1, TwoPerson: true}},
			// Ran automatically, waiting for a human to keep or release it.
			{ID: 12, IncidentID: 42, Kind: "isolate_host", Target: "laptop-7", Connector: "edr", State: model.ActionSucceeded,
				RequestedBy: "warroom", Auto: true, PendingReview: true},
		},
		Requests: map[int64]string{10: "local:carol"},
	}
}

// testMint names each button after its verb and subject, so golden files are stable.
func testMint(verb, subject string, data any) (string, error) {
	return fmt.Sprintf("tok-%s-%s", verb, strings.ReplaceAll(subject, " ", "_")), nil
}

func TestOpeningMessageGolden(t *testing.T) {
	m, err := RenderOpening(sampleView(), testMint)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "opening.golden", append(b, '\n'))
	if m.Narrative.Source != NarrativeTemplate {
		t.Errorf("narrative source %q", m.Narrative.Source)
	}
	for _, b := range m.Buttons {
		if strings.Contains(b.ActionID, "203.0.113.45") && !strings.HasPrefix(b.ActionID, "tok-") {
			t.Errorf("button %q carries the target in its id", b.ActionID)
		}
	}
}

func TestOpeningMessageOfClosedAndDrillIncidents(t *testing.T) {
	v := sampleView()
	v.Incident.Status = model.StatusMerged
	v.Incident.MergedInto = 40
	v.Incident.Kind = model.KindDrill
	m, err := RenderOpening(v, testMint)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Buttons) != 0 {
		t.Errorf("a merged incident offers buttons: %+v", m.Buttons)
	}
	if !strings.Contains(m.StatusLine, "Merged into INC-0040") || !strings.HasPrefix(m.Header, "DRILL INC-0042") {
		t.Errorf("header %q, status line %q", m.Header, m.StatusLine)
	}
}

func TestApprovalState(t *testing.T) {
	for _, tc := range []struct {
		a    model.Action
		want string
	}{
		{model.Action{RequestedBy: "local:alice", Policy: model.ApprovalPolicy{Approvers: 1, TwoPerson: true}}, "waiting for a second approver"},
		{model.Action{RequestedBy: "system", Policy: model.ApprovalPolicy{Approvers: 1}}, "waiting for an approver"},
		{model.Action{RequestedBy: "system", Policy: model.ApprovalPolicy{Approvers: 2}, Approvals: []model.Approval{{By: "x"}}}, "waiting for a second approver"},
		{model.Action{RequestedBy: "system", Policy: model.ApprovalPolicy{Approvers: 2}}, "waiting for 2 approvers"},
		{model.Action{RequestedBy: "local:alice", Policy: model.ApprovalPolicy{Approvers: 1}, Approvals: []model.Approval{{By: "local:bob"}}}, "approved"},
	} {
		if got := ApprovalState(&tc.a, ""); got != tc.want {
			t.Errorf("ApprovalState(%+v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := b.Delay(n); got != want {
			t.Errorf("Delay(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestModelNarrativeIsShownAtOnce: a model's narrative (and each rewrite of it) is part
// of what the opening message shows without waiting for the update interval; the
// template's own changes are not.
func TestModelNarrativeIsShownAtOnce(t *testing.T) {
	inc := &model.Incident{ID: 1, Number: "INC-0001", Status: model.StatusOpen, Severity: model.SeverityHigh}
	tmpl := &View{Incident: inc, Narrative: Narrative{Text: "3 alerts", Source: NarrativeTemplate}}
	tmpl2 := &View{Incident: inc, Narrative: Narrative{Text: "4 alerts", Source: NarrativeTemplate}}
	ai := &View{Incident: inc, Narrative: Narrative{Text: "A brute force.", Source: NarrativeAI, Model: "m"}}
	ai2 := &View{Incident: inc, Narrative: Narrative{Text: "A brute force, now contained.", Source: NarrativeAI, Model: "m"}}
	if urgent(tmpl) != urgent(tmpl2) {
		t.Error("a template narrative's count change is urgent; it should wait for the interval")
	}
	if urgent(tmpl) == urgent(ai) {
		t.Error("the model's first narrative is not urgent")
	}
	if urgent(ai) == urgent(ai2) {
		t.Error("a rewrite of the model's narrative is not urgent")
	}
}
