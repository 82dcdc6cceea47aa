package playbooks

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInvalidPlaybooks checks each file in testdata/invalid fails with exactly this
// error: the file, the line, the key and what to fix.
func TestInvalidPlaybooks(t *testing.T) {
	want := map[string]string{
		"action_id_dup.yaml":           "testdata/invalid/action_id_dup.yaml:11: actions[1].id: \"block\" is also the id of actions[0]; action ids are unique in a playbook",
		"alias.yaml":                   "testdata/invalid/alias.yaml:2: title: anchors and aliases are not supported; write the value out",
		"approval_role_bad.yaml":       "testdata/invalid/approval_role_bad.yaml:12: actions[0].approval.roles[1]: \"responder\"; want approver or admin",
		"approvers_bad.yaml":           "testdata/invalid/approvers_bad.yaml:12: actions[0].approval.approvers: 3; want 0, 1 or 2",
		"auto_cel_internal.yaml":       "testdata/invalid/auto_cel_internal.yaml:10: actions[0].auto: the targets expression may give internal addresses; set allow_internal: true or use an external_* selector",
		"auto_too_many.yaml":           "testdata/invalid/auto_too_many.yaml:12: actions[0].auto_max_targets: 20; want between 1 and 5 (playbooks.max_auto_targets)",
		"auto_when_without_auto.yaml":  "testdata/invalid/auto_when_without_auto.yaml:11: actions[0].auto_when: only applies with auto: true",
		"bool_type.yaml":               "testdata/invalid/bool_type.yaml:11: actions[0].auto: want true or false, got \"yes\"",
		"checklist_empty_step.yaml":    "testdata/invalid/checklist_empty_step.yaml:6: checklist[1]: empty step; write what to do or remove it",
		"checklist_missing.yaml":       "testdata/invalid/checklist_missing.yaml:1: checklist: missing; list the steps the responders follow",
		"checklist_not_list.yaml":      "testdata/invalid/checklist_not_list.yaml:4: checklist: want a list",
		"connector_bad.yaml":           "testdata/invalid/connector_bad.yaml:10: actions[0].connector: \"EDL!\"; a connector name uses lowercase letters, digits, - and _",
		"dup_key.yaml":                 "testdata/invalid/dup_key.yaml:5: title: given twice (first on line 2); keep one",
		"empty.yaml":                   "testdata/invalid/empty.yaml: empty file; a playbook needs at least id, title, match and checklist",
		"expires_too_long.yaml":        "testdata/invalid/expires_too_long.yaml:12: actions[0].approval.expires: 48h; want between 1m and 24h",
		"id_bad.yaml":                  "testdata/invalid/id_bad.yaml:1: id: \"SSH Brute\"; use lowercase letters, digits and - (at most 63, starting with a letter or digit)",
		"id_missing.yaml":              "testdata/invalid/id_missing.yaml:1: id: missing; give the playbook an id such as \"ssh-rdp-bruteforce\"",
		"internal_without_allow.yaml":  "testdata/invalid/internal_without_allow.yaml:9: actions[0].targets: internal_src_ips are internal assets; set allow_internal: true to act on them",
		"invalid_yaml.yaml":            "testdata/invalid/invalid_yaml.yaml:3: invalid YAML: mapping values are not allowed in this context",
		"isolate_no_connector.yaml":    "testdata/invalid/isolate_no_connector.yaml:7: actions[0].connector: missing; isolate_host has no default connector: name the one that reaches your EDR, e.g. edr",
		"isolate_without_allow.yaml":   "testdata/invalid/isolate_without_allow.yaml:7: actions[0].allow_internal: isolate_host acts on internal hosts; set allow_internal: true",
		"kind_bad.yaml":                "testdata/invalid/kind_bad.yaml:8: actions[0].kind: \"block\"; want one of block_ip, unblock_ip, isolate_host, release_host, webhook",
		"match_bad_regex.yaml":         "testdata/invalid/match_bad_regex.yaml:4: match: invalid CEL: error parsing regexp: missing closing ): `(ssh`",
		"match_missing.yaml":           "testdata/invalid/match_missing.yaml:1: match: missing; give a CEL condition such as incident.category == 'scan'",
		"match_not_bool.yaml":          "testdata/invalid/match_not_bool.yaml:3: match: the expression gives string; it must give a bool (true or false)",
		"match_syntax.yaml":            "testdata/invalid/match_syntax.yaml:3: match: invalid CEL: ERROR: <input>:1:21: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n | incident.category ==\n | ....................^",
		"match_unknown_field.yaml":     "testdata/invalid/match_unknown_field.yaml:4: match: invalid CEL: ERROR: <input>:1:9: undefined field 'categori'\n | incident.categori == 'scan'\n | ........^",
		"not_mapping.yaml":             "testdata/invalid/not_mapping.yaml:1: want a mapping with the keys id, title, description, match, priority, checklist, actions",
		"priority_range.yaml":          "testdata/invalid/priority_range.yaml:4: priority: 5000; want between 0 and 1000 (higher wins when several playbooks match)",
		"priority_type.yaml":           "testdata/invalid/priority_type.yaml:4: priority: want a whole number, got \"high\"",
		"selector_unknown.yaml":        "testdata/invalid/selector_unknown.yaml:9: actions[0].targets: unknown selector \"external_src_ip\"; want one of external_src_ips, external_dst_ips, internal_src_ips, internal_dst_ips, internal_src_hosts, internal_dst_hosts, c2_dst_ips, c2_src_hosts, domains, devices, interfaces, or a CEL expression returning list(string)",
		"selector_wrong_kind.yaml":     "testdata/invalid/selector_wrong_kind.yaml:9: actions[0].targets: domains gives names, but block_ip needs addresses: use an *_ips selector",
		"targets_bad_cel.yaml":         "testdata/invalid/targets_bad_cel.yaml:9: actions[0].targets: invalid CEL: ERROR: <input>:1:36: type 'string' does not support field selection\n | selectors.external_src_ips.map(x, x.nope)\n | ...................................^",
		"targets_not_list.yaml":        "testdata/invalid/targets_not_list.yaml:9: actions[0].targets: the expression gives string; it must give list(string)",
		"title_missing.yaml":           "testdata/invalid/title_missing.yaml:1: title: missing; give a one-line title for the room",
		"ttl_bad.yaml":                 "testdata/invalid/ttl_bad.yaml:10: actions[0].ttl: \"1 day\" is not a duration; write it like 30m or 24h",
		"ttl_missing.yaml":             "testdata/invalid/ttl_missing.yaml:7: actions[0].ttl: missing; block_ip needs a TTL (such as 24h) after which it is rolled back",
		"ttl_on_unblock.yaml":          "testdata/invalid/ttl_on_unblock.yaml:10: actions[0].ttl: unblock_ip does not expire; remove ttl",
		"ttl_too_long.yaml":            "testdata/invalid/ttl_too_long.yaml:10: actions[0].ttl: 720h; want between 1m and 168h",
		"two_docs.yaml":                "testdata/invalid/two_docs.yaml:6: more than one YAML document; keep one playbook per file",
		"two_person_no_approvers.yaml": "testdata/invalid/two_person_no_approvers.yaml:13: actions[0].approval.two_person: needs approvers: 1 or 2 (with no approver there is no second person)",
		"unknown_action_key.yaml":      "testdata/invalid/unknown_action_key.yaml:10: actions[0]: unknown key \"tll\"; allowed: id, kind, targets, connector, ttl, approval, auto, auto_when, auto_max_targets, when, allow_internal",
		"unknown_approval_key.yaml":    "testdata/invalid/unknown_approval_key.yaml:12: actions[0].approval: unknown key \"approver\"; allowed: approvers, roles, two_person, expires",
		"unknown_key.yaml":             "testdata/invalid/unknown_key.yaml:3: unknown key \"mtach\"; allowed: id, title, description, match, priority, checklist, actions",
		"when_bad.yaml":                "testdata/invalid/when_bad.yaml:11: actions[0].when: invalid CEL: ERROR: <input>:1:34: found no matching overload for '_<=_' applied to '(int, string)'\n | size(selectors.external_src_ips) <= '50'\n | .................................^",
	}
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d files in testdata/invalid, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(f, b, Options{})
			if err == nil {
				t.Fatalf("parsed as %s; want error %q", p.ID, w)
			}
			if got := err.Error(); got != w {
				t.Errorf("error\n got %q\nwant %q", got, w)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.File != f {
				t.Errorf("error %T does not carry the file %s", err, f)
			}
		})
	}
}

// TestInvalidInUserDir checks Load reports a bad user file with its path and line.
func TestInvalidInUserDir(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "scan.yaml", "id: scan\ntitle: t\nchecklist: [x]\nmatch: incident.categori == 'scan'\n")
	_, err := Load(dir)
	want := path + ":4: match: invalid CEL: ERROR: <input>:1:9: undefined field 'categori'\n | incident.categori == 'scan'\n | ........^"
	if err == nil || err.Error() != want {
		t.Errorf("error %v; want %q", err, want)
	}
}

// TestOptionsLimits checks the configurable limits reach validation.
func TestOptionsLimits(t *testing.T) {
	src := []byte(`id: x
title: t
match: "true"
checklist: [x]
actions:
  - id: block
    kind: block_ip
    targets: external_src_ips
    ttl: 48h
    auto: true
    auto_max_targets: 8
`)
	if _, err := Parse("x.yaml", src, Options{MaxAutoTargets: 10}); err != nil {
		t.Errorf("max auto targets 10: %v", err)
	}
	_, err := Parse("x.yaml", src, Options{MaxAutoTargets: 10, MaxTTL: 24 * time.Hour})
	if want := "x.yaml:9: actions[0].ttl: 48h; want between 1m and 24h"; err == nil || err.Error() != want {
		t.Errorf("max TTL 24h: error %v; want %q", err, want)
	}
	if _, err := Parse("x.yaml", src, Options{MaxTTL: time.Second}); err == nil {
		t.Error("max TTL 1s accepted")
	}
}
