package config

import (
	"strings"
	"testing"
	"time"
)

// wantUnknownTopKey is the error for an unknown top-level key: it lists every key.
const wantUnknownTopKey = `line 2: unknown key "lissen"; allowed here: listen, database, log_level, generate_missing_secrets, memory_limit_mb, ingest, sources, api, correlation, categories, connectors, guardrails, playbooks, chat, platforms, sinks, ai, drills`

func TestChatDefaults(t *testing.T) {
	c, err := Parse([]byte("sources:\n  - {name: s, format: generic, token_env: T}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Chat.UpdateInterval) != 30*time.Second || !c.Platforms.Local.Enabled ||
		c.Platforms.Local.Auth != AuthNone || time.Duration(c.Platforms.Local.SessionTTL) != 12*time.Hour {
		t.Errorf("chat defaults not applied: %+v %+v", c.Chat, c.Platforms)
	}
}

func TestExampleConfigHasTwoChatUsers(t *testing.T) {
	c, err := Load("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Platforms.Local
	if !l.Enabled || l.Auth != AuthNone || len(l.Users) < 2 {
		t.Fatalf("example web chat: %+v; want auth none with two demo users", l)
	}
	roles := map[Role]bool{}
	for _, u := range l.Users {
		roles[u.Role] = true
	}
	if !roles[RoleResponder] || !roles[RoleApprover] {
		t.Errorf("example users' roles %v; want a responder and an approver so the two-person rule can be tried", roles)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:80": true, "127.1.2.3:1": true,
		"0.0.0.0:8080": false, "[::]:8080": false, "192.0.2.1:8080": false, ":8080": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestInvalidChatConfigs checks each file in testdata/invalid_chat fails with exactly
// this error.
func TestInvalidChatConfigs(t *testing.T) {
	want := map[string]string{
		"auth_none_public.yaml":    `platforms.local.auth: none serves the web chat without a login, which is allowed only on a loopback address, and listen is 0.0.0.0:8080; set auth: password or auth: token (with platforms.local.users), or listen on 127.0.0.1`,
		"bad_auth.yaml":            `platforms.local.auth: "ldap"; want none, password or token`,
		"no_users.yaml":            `platforms.local.users: none configured; auth: password needs at least one user`,
		"no_password.yaml":         `platforms.local.users[0]: no password; set password_hash_env or password_hash_file (a bcrypt hash)`,
		"both_passwords.yaml":      `platforms.local.users[0]: password_hash_env and password_hash_file both set; keep one`,
		"token_with_password.yaml": `platforms.local.users[0]: auth is password; token_env and token_file are for auth: token`,
		"secret_with_none.yaml":    `platforms.local.users[0]: auth is none, so a password hash or token would be ignored; remove it or set auth`,
		"bad_user.yaml":            `platforms.local.users[0].name: "Alice Smith"; use lowercase letters, digits, '.', '-' and '_' (at most 32)`,
		"dup_user.yaml":            `platforms.local.users[1].name: "alice" is used twice`,
		"bad_user_role.yaml":       `platforms.local.users[0].role: "boss"; want viewer, responder, approver or admin`,
		"bad_interval.yaml":        `chat.update_interval: 0s; want between 1s and 1h`,
		"role_local.yaml":          `chat.roles[0].platform: the web chat's users get their role in platforms.local.users`,
		"role_unknown.yaml":        `chat.roles[0].platform: "teams"; want one of slack, discord`,
		"role_both.yaml":           `chat.roles[0]: user and group both set; one entry names one of them`,
		"bad_default_role.yaml":    `chat.default_role: "root"; want viewer, responder, approver, admin or empty for none`,
		"unknown_local_key.yaml":   `line 5: unknown key "password"; allowed here: name, display_name, role, password_hash_env, password_hash_file, token_env, token_file`,
		"token_no_secret.yaml":     `platforms.local.users[0]: no token; set token_env (an environment variable) or token_file (a file holding it)`,
	}
	checkInvalid(t, "testdata/invalid_chat", want, func(b []byte) []byte {
		if !strings.Contains(string(b), "sources:") {
			return append(b, sourcesBase...)
		}
		return b
	})
}
