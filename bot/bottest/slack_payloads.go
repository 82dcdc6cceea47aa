package bottest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// What Slack sends to an app, built from the fake's state: a click on a button of a
// message the fake holds, a slash command, an app mention. The same payloads travel
// as signed HTTP requests (Events API mode) or Socket Mode envelopes.

// BlockActions is the block_actions payload of userID clicking the button with
// actionID on message ts of channel, as Slack sends it: the user, the channel, the
// container, the message with its current blocks, and the action. It fails the test
// when the message has no such button.
func (f *SlackFake) BlockActions(userID, channel, ts, actionID string) map[string]any {
	f.t.Helper()
	f.mu.Lock()
	c := f.channels[channel]
	var m *SlackMessage
	if c != nil {
		m = c.message(ts)
	}
	name := f.users[userID]
	f.mu.Unlock()
	if m == nil {
		f.t.Fatalf("fake Slack: no message %s in %s to click on", ts, channel)
	}
	v := m.Latest()
	var blocks []map[string]any
	if err := json.Unmarshal(v.Blocks, &blocks); err != nil {
		f.t.Fatalf("fake Slack: message %s has no blocks: %v", ts, err)
	}
	var action map[string]any
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			if el["action_id"] == actionID {
				action = map[string]any{"type": "button", "action_id": actionID, "block_id": b["block_id"], "text": el["text"],
					"action_ts": fmt.Sprintf("%d.000100", time.Now().Unix())}
				if s, ok := el["style"]; ok {
					action["style"] = s
				}
			}
		}
	}
	if action == nil {
		f.t.Fatalf("fake Slack: message %s has no button %q", ts, actionID)
	}
	f.mu.Lock()
	f.seq++
	n := f.seq
	f.mu.Unlock()
	return map[string]any{
		"type":                  "block_actions",
		"user":                  map[string]any{"id": userID, "username": name, "name": name, "team_id": f.TeamID},
		"api_app_id":            "A0WARROOM",
		"token":                 "legacy-verification-token",
		"container":             map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
		"trigger_id":            fmt.Sprintf("%d.1111.trigger", n),
		"team":                  map[string]any{"id": f.TeamID, "domain": "fake"},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": channel, "name": c.Name},
		"message": map[string]any{"type": "message", "user": f.BotUserID, "bot_id": "B0WARROOM", "ts": ts, "text": v.Text,
			"blocks": json.RawMessage(v.Blocks)},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": f.ResponseURL("action-" + strconv.Itoa(n)),
		"actions":      []any{action},
	}
}

// SlashCommand is the payload of userID typing command text in channel.
func (f *SlackFake) SlashCommand(userID, channel, command, text string) map[string]string {
	f.mu.Lock()
	f.seq++
	n := f.seq
	name := f.users[userID]
	chName := ""
	if c := f.channels[channel]; c != nil {
		chName = c.Name
	}
	f.mu.Unlock()
	return map[string]string{
		"token": "legacy-verification-token", "team_id": f.TeamID, "team_domain": "fake", "channel_id": channel,
		"channel_name": chName, "user_id": userID, "user_name": name, "command": command, "text": text,
		"api_app_id": "A0WARROOM", "is_enterprise_install": "false", "response_url": f.ResponseURL("command-" + strconv.Itoa(n)),
		"trigger_id": fmt.Sprintf("%d.2222.trigger", n),
	}
}

// AppMention is the event_callback envelope of userID mentioning the bot in channel.
func (f *SlackFake) AppMention(userID, channel, text string) map[string]any {
	f.mu.Lock()
	f.seq++
	n := f.seq
	f.mu.Unlock()
	now := time.Now().Unix()
	return map[string]any{
		"token": "legacy-verification-token", "team_id": f.TeamID, "api_app_id": "A0WARROOM", "type": "event_callback",
		"event_id": fmt.Sprintf("Ev%08d", n), "event_time": now, "is_ext_shared_channel": false,
		"event_context": "4-fake", "authorizations": []any{map[string]any{"team_id": f.TeamID, "user_id": f.BotUserID, "is_bot": true}},
		"event": map[string]any{"type": "app_mention", "user": userID, "text": "<@" + f.BotUserID + "> " + text,
			"ts": fmt.Sprintf("%d.%06d", now, n), "channel": channel, "event_ts": fmt.Sprintf("%d.%06d", now, n)},
	}
}

// URLVerification is the request Slack sends when the Events URL is saved.
func URLVerification(challenge string) map[string]any {
	return map[string]any{"token": "legacy-verification-token", "challenge": challenge, "type": "url_verification"}
}

// SlackRequest is a request from Slack to an app's Events API endpoints.
type SlackRequest struct {
	Path        string
	ContentType string
	Body        []byte
}

// EventRequest is an Events API request (JSON).
func EventRequest(payload any) SlackRequest {
	b, _ := json.Marshal(payload)
	return SlackRequest{Path: "/slack/events", ContentType: "application/json", Body: b}
}

// InteractionRequest is an interactivity request: a form with the payload JSON.
func InteractionRequest(payload any) SlackRequest {
	b, _ := json.Marshal(payload)
	return SlackRequest{Path: "/slack/interactions", ContentType: "application/x-www-form-urlencoded",
		Body: []byte(url.Values{"payload": {string(b)}}.Encode())}
}

// CommandRequest is a slash command request: a form.
func CommandRequest(fields map[string]string) SlackRequest {
	v := url.Values{}
	for k, x := range fields {
		v.Set(k, x)
	}
	return SlackRequest{Path: "/slack/commands", ContentType: "application/x-www-form-urlencoded", Body: []byte(v.Encode())}
}

// Send posts req to the app at base, signed with secret at time at, as Slack does,
// and returns the status and body of the answer. signature, when not empty, replaces
// the computed one (a forgery).
func (req SlackRequest) Send(base, secret string, at time.Time, signature string) (int, string, error) {
	ts, sig := SignSlack(secret, at, req.Body)
	if signature != "" {
		sig = signature
	}
	return req.SendWith(base, ts, sig)
}

// SendWith posts req with the given signing headers.
func (req SlackRequest) SendWith(base, ts, sig string) (int, string, error) {
	r, err := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+req.Path, bytes.NewReader(req.Body))
	if err != nil {
		return 0, "", err
	}
	r.Header.Set("Content-Type", req.ContentType)
	r.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	r.Header.Set("X-Slack-Request-Timestamp", ts)
	r.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
