package bottest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// DiscordMember is a guild member who clicks and types.
type DiscordMember struct {
	ID    string
	Name  string
	Roles []string
}

// DiscordInteraction is an interaction the fake sent, and what the application did
// with it.
type DiscordInteraction struct {
	ID, Token string
	Type      int
	// Payload is the interaction object as sent.
	Payload []byte
	// Response is the interaction response (the HTTP answer in http mode, the
	// callback in gateway mode); ResponseType its type, 0 while unanswered.
	Response     json.RawMessage
	ResponseType int
	// Status is the HTTP status of an HTTP delivery.
	Status int
	// Followups and Edits are the follow-up messages and edits of the original
	// response.
	Followups []DiscordBody
	Edits     []DiscordBody
	component bool
	answered  chan struct{}
	channelID string
	memberID  string
}

// DiscordAnswer is what the application did with an interaction so far.
type DiscordAnswer struct {
	Status       int
	ResponseType int
	Response     json.RawMessage
	Followups    []DiscordBody
	Edits        []DiscordBody
}

// Answer returns what the application did with ix so far.
func (f *DiscordFake) Answer(ix *DiscordInteraction) DiscordAnswer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return DiscordAnswer{Status: ix.Status, ResponseType: ix.ResponseType, Response: ix.Response,
		Followups: append([]DiscordBody(nil), ix.Followups...), Edits: append([]DiscordBody(nil), ix.Edits...)}
}

func memberJSON(m DiscordMember) map[string]any {
	roles := m.Roles
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{
		"user":        map[string]any{"id": m.ID, "username": m.Name, "global_name": m.Name, "discriminator": "0", "avatar": nil},
		"roles":       roles,
		"nick":        nil,
		"joined_at":   "2026-01-01T00:00:00.000000+00:00",
		"deaf":        false,
		"mute":        false,
		"flags":       0,
		"permissions": "2248473465835073",
	}
}

func (f *DiscordFake) newInteraction(typ int, payload map[string]any, component bool) *DiscordInteraction {
	f.mu.Lock()
	defer f.mu.Unlock()
	ix := &DiscordInteraction{ID: f.id(), Type: typ, component: component, answered: make(chan struct{})}
	ix.Token = "aW50ZXJhY3Rpb246" + ix.ID + ":fake-interaction-token"
	payload["id"], payload["token"], payload["type"] = ix.ID, ix.Token, typ
	payload["application_id"], payload["version"] = f.AppID, 1
	payload["app_permissions"], payload["locale"], payload["guild_locale"] = "2248473465835073", "en-US", "en-US"
	payload["entitlements"], payload["authorizing_integration_owners"] = []any{}, map[string]string{"0": f.GuildID}
	payload["context"] = 0
	ix.Payload, _ = json.Marshal(payload)
	ix.channelID, _ = payload["channel_id"].(string)
	if m, ok := payload["member"].(map[string]any); ok {
		if u, ok := m["user"].(map[string]any); ok {
			ix.memberID, _ = u["id"].(string)
		}
	}
	f.interactions[ix.ID] = ix
	return ix
}

// Click makes member click the button with customID on a message the application
// posted.
func (f *DiscordFake) Click(member DiscordMember, messageID, customID string) *DiscordInteraction {
	f.mu.Lock()
	m, ok := f.messages[messageID]
	var msg map[string]any
	if ok {
		msg = f.messageJSON(m)
	}
	f.mu.Unlock()
	if !ok {
		f.t.Fatalf("discord fake: click on unknown message %s", messageID)
	}
	found := false
	for _, b := range m.Latest().Buttons() {
		found = found || b.CustomID == customID
	}
	if !found {
		f.t.Fatalf("discord fake: message %s has no button %q", messageID, customID)
	}
	return f.newInteraction(3, map[string]any{
		"guild_id": f.GuildID, "channel_id": m.ChannelID, "member": memberJSON(member), "message": msg,
		"channel": map[string]any{"id": m.ChannelID, "type": 0, "guild_id": f.GuildID},
		"data":    map[string]any{"custom_id": customID, "component_type": 2},
	}, true)
}

// Command makes member type /warroom command:<text> in a channel ("" leaves the
// option out).
func (f *DiscordFake) Command(member DiscordMember, channelID, text string) *DiscordInteraction {
	data := map[string]any{"id": "1", "name": "warroom", "type": 1, "guild_id": f.GuildID}
	if text != "" {
		data["options"] = []map[string]any{{"name": "command", "type": 3, "value": text}}
	}
	return f.newInteraction(2, map[string]any{"guild_id": f.GuildID, "channel_id": channelID, "member": memberJSON(member),
		"channel": map[string]any{"id": channelID, "type": 0, "guild_id": f.GuildID}, "data": data}, false)
}

// Ping is the PING Discord sends to check an HTTP interactions endpoint.
func (f *DiscordFake) Ping() *DiscordInteraction {
	return f.newInteraction(1, map[string]any{}, false)
}

// Sign returns the X-Signature-Ed25519 of body at the timestamp ts.
func (f *DiscordFake) Sign(ts string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(f.priv, append([]byte(ts), body...)))
}

// SignedRequest builds the request Discord sends to an interactions endpoint.
func (f *DiscordFake) SignedRequest(endpoint string, body []byte, at time.Time) *http.Request {
	ts := strconv.FormatInt(at.Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	req.Header.Set("X-Signature-Ed25519", f.Sign(ts, body))
	req.Header.Set("X-Signature-Timestamp", ts)
	return req
}

// Deliver sends an interaction to an HTTP interactions endpoint, signed, and records
// the response as Discord would. It returns the HTTP status.
func (f *DiscordFake) Deliver(endpoint string, ix *DiscordInteraction) int {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(f.SignedRequest(endpoint, ix.Payload, f.Now()))
	if err != nil {
		f.t.Fatalf("discord fake: deliver interaction: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	f.mu.Lock()
	ix.Status = resp.StatusCode
	f.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		f.mu.Lock()
		f.notify()
		f.mu.Unlock()
		return resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		f.fail("discord fake: interaction response Content-Type %q; want application/json", ct)
	}
	if problems := f.acknowledge(ix, body); len(problems) > 0 {
		f.fail("discord fake: interaction %s response: %v", ix.ID, problems)
	}
	return resp.StatusCode
}

// acknowledge records an interaction response after checking it.
func (f *DiscordFake) acknowledge(ix *DiscordInteraction, body []byte) []string {
	var resp struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return []string{"not an interaction response: " + err.Error()}
	}
	var problems []string
	switch resp.Type {
	case 1:
		if ix.Type != 1 {
			problems = append(problems, "PONG answers PING only")
		}
	case 4, 7:
		if p := CheckDiscordBody(resp.Data, resp.Type == 4); len(p) > 0 {
			problems = append(problems, p...)
		}
	case 5:
	case 6:
		if !ix.component {
			problems = append(problems, fmt.Sprintf("response type %d is for component interactions only", resp.Type))
		}
	default:
		problems = append(problems, fmt.Sprintf("response type %d", resp.Type))
	}
	if resp.Type == 7 && !ix.component {
		problems = append(problems, "response type 7 is for component interactions only")
	}
	if ix.Type == 1 && resp.Type != 1 {
		problems = append(problems, "a PING must be answered with PONG (type 1)")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ix.ResponseType != 0 {
		return append(problems, "Interaction has already been acknowledged. (40060)")
	}
	if len(problems) == 0 {
		ix.Response, ix.ResponseType = append(json.RawMessage(nil), body...), resp.Type
		close(ix.answered)
	}
	f.notify()
	return problems
}

func (f *DiscordFake) serveCallback(w http.ResponseWriter, r *http.Request, id, token string, body []byte) {
	f.mu.Lock()
	ix, ok := f.interactions[id]
	f.mu.Unlock()
	if !ok || ix.Token != token {
		f.fail("discord fake: callback for unknown interaction %s", id)
		discordError(w, http.StatusNotFound, 10062, "Unknown interaction", nil)
		return
	}
	if problems := f.acknowledge(ix, body); len(problems) > 0 {
		f.badRequest(w, r, problems)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveWebhook handles follow-up messages and edits of the original response, by
// interaction token.
func (f *DiscordFake) serveWebhook(w http.ResponseWriter, r *http.Request, app, token string, original bool, body []byte) {
	if app != f.AppID {
		f.fail("discord fake: webhook of unknown application %s", app)
		discordError(w, http.StatusNotFound, 10015, "Unknown Webhook", nil)
		return
	}
	f.mu.Lock()
	var ix *DiscordInteraction
	for _, x := range f.interactions {
		if x.Token == token {
			ix = x
		}
	}
	f.mu.Unlock()
	if ix == nil {
		f.fail("discord fake: webhook with unknown interaction token")
		discordError(w, http.StatusNotFound, 10015, "Unknown Webhook", nil)
		return
	}
	// The response may still be on its way back to Discord.
	select {
	case <-ix.answered:
	case <-time.After(5 * time.Second):
		f.fail("discord fake: follow-up to interaction %s before any response", ix.ID)
		discordError(w, http.StatusNotFound, 10015, "Unknown Webhook", nil)
		return
	}
	if problems := CheckDiscordBody(body, !original); len(problems) > 0 {
		f.badRequest(w, r, problems)
		return
	}
	var b DiscordBody
	_ = json.Unmarshal(body, &b)
	f.mu.Lock()
	defer f.mu.Unlock()
	if original {
		if ix.ResponseType != 4 && ix.ResponseType != 5 {
			f.fail("discord fake: edit of the original response of interaction %s, which has none (type %d)", ix.ID, ix.ResponseType)
			discordError(w, http.StatusNotFound, 10008, "Unknown Message", nil)
			return
		}
		ix.Edits = append(ix.Edits, b)
	} else {
		if r.URL.Query().Get("wait") == "" {
			f.fail("discord fake: follow-up without ?wait=true")
		}
		ix.Followups = append(ix.Followups, b)
	}
	f.notify()
	writeDiscordJSON(w, http.StatusOK, map[string]any{"id": f.id(), "channel_id": "0", "content": b.Content, "type": 0,
		"flags": b.Flags, "author": map[string]any{"id": f.AppID, "username": "warroom", "bot": true},
		"timestamp": "2026-11-20T10:00:00.000000+00:00"})
}

// ClickResponse makes member click a button of the message the application answered
// ix with (an ephemeral message: only ix's member sees it, so only they can click).
func (f *DiscordFake) ClickResponse(member DiscordMember, ix *DiscordInteraction, customID string) *DiscordInteraction {
	f.t.Helper()
	f.mu.Lock()
	resp, typ, channel, owner := ix.Response, ix.ResponseType, ix.channelID, ix.memberID
	id := f.id()
	f.mu.Unlock()
	if typ != 4 {
		f.t.Fatalf("discord fake: interaction %s was answered with type %d, not a message with buttons", ix.ID, typ)
	}
	if member.ID != owner {
		f.t.Fatalf("discord fake: %s cannot see the ephemeral answer to %s's interaction", member.ID, owner)
	}
	var r struct {
		Data DiscordBody `json:"data"`
	}
	_ = json.Unmarshal(resp, &r)
	found := false
	for _, b := range r.Data.Buttons() {
		found = found || b.CustomID == customID
	}
	if !found {
		f.t.Fatalf("discord fake: the answer to interaction %s has no button %q", ix.ID, customID)
	}
	var data map[string]any
	_ = json.Unmarshal(resp, &struct {
		Data *map[string]any `json:"data"`
	}{&data})
	msg := map[string]any{"id": id, "channel_id": channel, "type": 19, "flags": 64, "content": data["content"],
		"components": data["components"], "embeds": []any{}, "timestamp": "2026-11-20T10:00:00.000000+00:00",
		"author": map[string]any{"id": f.AppID, "username": "warroom", "bot": true}}
	return f.newInteraction(3, map[string]any{
		"guild_id": f.GuildID, "channel_id": channel, "member": memberJSON(member), "message": msg,
		"channel": map[string]any{"id": channel, "type": 0, "guild_id": f.GuildID},
		"data":    map[string]any{"custom_id": customID, "component_type": 2},
	}, true)
}

// ResponseButtons lists the buttons of the message the application answered ix with.
func (f *DiscordFake) ResponseButtons(ix *DiscordInteraction) []DiscordComponent {
	f.mu.Lock()
	resp := ix.Response
	f.mu.Unlock()
	var r struct {
		Data DiscordBody `json:"data"`
	}
	_ = json.Unmarshal(resp, &r)
	return r.Data.Buttons()
}
