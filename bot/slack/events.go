package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/warroom/warroom/bot"
)

// maxBody bounds a request from Slack.
const maxBody = 1 << 20

// workTimeout bounds the work done after an acknowledgement.
const workTimeout = 2 * time.Minute

// Handler serves the Events API mode's three endpoints. Every request is verified
// (signature, timestamp, replay) before anything is read from it, acknowledged at
// once, and handled after.
func (a *Adapter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/events", a.serveEvents)
	mux.HandleFunc("POST /slack/interactions", a.serveInteractions)
	mux.HandleFunc("POST /slack/commands", a.serveCommands)
	return mux
}

// readVerified reads the body and verifies the request; on failure it has answered.
func (a *Adapter) readVerified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	if err := a.verify(r.Context(), r.Header, body); err != nil {
		code := http.StatusUnauthorized
		if !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrStale) && !errors.Is(err, ErrForged) && !errors.Is(err, ErrReplay) {
			code = http.StatusServiceUnavailable
			a.o.Log.Error("slack: verify a request", "path", r.URL.Path, "err", err)
		} else {
			a.o.Log.Warn("slack: refused a request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
		}
		// The reason is logged, never told: a prober learns nothing from the answer.
		if code == http.StatusUnauthorized {
			http.Error(w, "unauthorized", code)
		} else {
			http.Error(w, "try again later", code)
		}
		return nil, false
	}
	return body, true
}

func (a *Adapter) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readVerified(w, r)
	if !ok {
		return
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if env.Type == "url_verification" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"challenge": env.Challenge})
		return
	}
	if err := a.checkTeam(r.Context(), env.TeamID); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.later(func(ctx context.Context) { a.handleEnvelope(ctx, env) })
}

func (a *Adapter) serveInteractions(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readVerified(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "want a form with a payload field", http.StatusBadRequest)
		return
	}
	cb, err := ParseInteraction([]byte(form.Get("payload")))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := a.checkTeam(r.Context(), cb.Team.ID); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if err := a.checkUserTeam(r.Context(), cb.User.TeamID); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.later(func(ctx context.Context) { a.handleInteraction(ctx, cb) })
}

func (a *Adapter) serveCommands(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readVerified(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "want a form", http.StatusBadRequest)
		return
	}
	cmd := slack.SlashCommand{TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), ChannelName: form.Get("channel_name"),
		UserID: form.Get("user_id"), UserName: form.Get("user_name"), Command: form.Get("command"), Text: form.Get("text"),
		ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"), APIAppID: form.Get("api_app_id")}
	if err := a.checkCommand(cmd); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := a.checkTeam(r.Context(), cmd.TeamID); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.later(func(ctx context.Context) { a.handleCommand(ctx, cmd) })
}

// later runs f after the acknowledgement, tracked so shutdown can wait for it.
func (a *Adapter) later(f func(ctx context.Context)) {
	a.work.Add(1)
	go func() {
		defer a.work.Done()
		ctx, cancel := context.WithTimeout(context.Background(), workTimeout)
		defer cancel()
		f(ctx)
	}()
}

// checkUserTeam refuses a user whose own team, when the payload names it, is not the
// served workspace: a member of another organisation in a channel shared through
// Slack Connect, whose user id no role binding of this workspace speaks for.
func (a *Adapter) checkUserTeam(ctx context.Context, team string) error {
	if team == "" {
		return nil
	}
	if err := a.checkTeam(ctx, team); err != nil {
		return fmt.Errorf("the user belongs to another organisation: %w", err)
	}
	return nil
}

// checkTeam refuses a request from another workspace than the one served: TeamID,
// or when it is unset the bot token's own workspace (auth.test). An app's signing
// secret is the same in every workspace it is installed in, so a valid signature
// alone does not say the request comes from this one.
func (a *Adapter) checkTeam(ctx context.Context, team string) error {
	want := a.o.TeamID
	if want == "" {
		a.mu.Lock()
		known := a.teamKnown
		a.mu.Unlock()
		if !known {
			if _, err := a.Check(ctx); err != nil {
				return fmt.Errorf("cannot tell which workspace this app serves: %w", err)
			}
		}
		a.mu.Lock()
		want = a.team
		a.mu.Unlock()
		if want == "" {
			return nil // an Enterprise Grid install without team_id (warned at auth.test)
		}
	}
	if team != want {
		return fmt.Errorf("this app serves workspace %s only, not %q", want, team)
	}
	return nil
}

func (a *Adapter) checkCommand(cmd slack.SlashCommand) error {
	switch {
	case cmd.Command != a.o.Command:
		return fmt.Errorf("unknown command %q; this app answers %s", cmd.Command, a.o.Command)
	case !userID.MatchString(cmd.UserID):
		return errors.New("the command carries no user id")
	case cmd.ChannelID == "":
		return errors.New("the command carries no channel id")
	}
	return nil
}

var userID = regexp.MustCompile(`^[UW][A-Z0-9]{2,30}$`)

// Envelope is the outer JSON of an Events API request (or a Socket Mode events_api
// payload).
type Envelope struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	TeamID    string          `json:"team_id"`
	APIAppID  string          `json:"api_app_id"`
	EventID   string          `json:"event_id"`
	EventTime int64           `json:"event_time"`
	Event     json.RawMessage `json:"event"`
}

// InnerEvent is the part of an event warroom reads.
type InnerEvent struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Text    string `json:"text"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	BotID   string `json:"bot_id"`
	// UserTeam is the user's own team, set in channels shared with other
	// organisations (Slack Connect).
	UserTeam string `json:"user_team"`
}

// ParseEnvelope decodes an Events API body and checks its shape.
func ParseEnvelope(body []byte) (*Envelope, error) {
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("the event is not JSON: %w", err)
	}
	switch e.Type {
	case "url_verification":
		if e.Challenge == "" || len(e.Challenge) > 1000 {
			return nil, errors.New("url_verification without a challenge")
		}
	case "event_callback":
		if e.EventID == "" || len(e.EventID) > 255 {
			return nil, errors.New("event_callback without an event_id")
		}
		if len(e.Event) == 0 || e.Event[0] != '{' {
			return nil, errors.New("event_callback without an event object")
		}
	case "app_rate_limited":
	default:
		return nil, fmt.Errorf("unknown envelope type %q", e.Type)
	}
	return &e, nil
}

// ParseInteraction decodes an interaction payload and checks its shape.
func ParseInteraction(raw []byte) (*slack.InteractionCallback, error) {
	var cb slack.InteractionCallback
	if err := json.Unmarshal(raw, &cb); err != nil {
		return nil, fmt.Errorf("the interaction payload is not valid: %w", err)
	}
	if cb.Type == slack.InteractionTypeBlockActions {
		if !userID.MatchString(cb.User.ID) {
			return nil, errors.New("block_actions without a user id")
		}
		if len(cb.ActionCallback.BlockActions) == 0 {
			return nil, errors.New("block_actions without actions")
		}
	}
	return &cb, nil
}

// handleEnvelope handles an event once per event_id (Slack retries deliveries).
func (a *Adapter) handleEnvelope(ctx context.Context, env *Envelope) {
	switch env.Type {
	case "app_rate_limited":
		a.o.Log.Warn("slack: Slack is dropping events for this app: over 30,000 in an hour")
		return
	case "event_callback":
	default:
		return
	}
	first, err := a.o.Store.ClaimNonce(ctx, "slack:event", env.EventID, a.o.Clock.Now().Add(24*time.Hour))
	if err != nil {
		a.o.Log.Error("slack: record an event id", "event", env.EventID, "err", err)
		return
	}
	if !first {
		a.o.Log.Debug("slack: duplicate event ignored", "event", env.EventID)
		return
	}
	var ev InnerEvent
	if err := json.Unmarshal(env.Event, &ev); err != nil {
		a.o.Log.Warn("slack: unreadable event", "event", env.EventID, "err", err)
		return
	}
	switch ev.Type {
	case "app_mention":
		if ev.BotID != "" || !userID.MatchString(ev.User) {
			return
		}
		if err := a.checkUserTeam(ctx, ev.UserTeam); err != nil {
			a.o.Log.Warn("slack: mention refused", "user", ev.User, "channel", ev.Channel, "err", err)
			return
		}
		text := leadingMention.ReplaceAllString(ev.Text, "")
		a.command(ctx, ev.User, "", ev.Channel, text, "")
	case "channel_archive", "group_archive", "member_left_channel", "channel_left", "group_left":
		a.o.Log.Warn("slack: channel change", "event", ev.Type, "channel", ev.Channel)
	}
}

var (
	// leadingMention is the mention of the bot an app_mention starts with.
	leadingMention = regexp.MustCompile(`^\s*(<@[UW][A-Z0-9]+(\|[^>]*)?>\s*)+`)
	// userMention is how Slack writes a mention in text: <@U123> or <@U123|name>.
	userMention = regexp.MustCompile(`<@([UW][A-Z0-9]+)(\|[^>]*)?>`)
)

// normalizeMentions writes Slack's user mentions as the actors warroom records
// (@slack:U123), so "assign @bob" names bob by his Slack id.
func normalizeMentions(text string) string {
	return userMention.ReplaceAllString(text, "@"+Name+":$1")
}

// handleInteraction handles a button click: it shows at once on the message who
// clicked, lets the bot act, and answers refusals and private replies ephemerally.
func (a *Adapter) handleInteraction(ctx context.Context, cb *slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return
	}
	user := a.user(ctx, cb.User.ID, firstNonEmpty(cb.User.Name, cb.User.Username))
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	ts := firstNonEmpty(cb.Container.MessageTs, cb.Message.Timestamp)
	for _, act := range cb.ActionCallback.BlockActions {
		if act.ActionID == "" || len(act.ActionID) > MaxActionID {
			continue
		}
		label := act.Text.Text
		if label == "" {
			label = "a button"
		}
		if ts != "" && channel != "" {
			a.showClick(ctx, channel, ts, cb.Message, fmt.Sprintf(":point_right: %s clicked “%s” at %s",
				bot.EscapeSlack(user.Display()), bot.EscapeSlack(label), a.o.Clock.Now().UTC().Format("15:04:05 UTC")))
		}
		in := bot.Interaction{Platform: Name, Kind: bot.Click, ActionID: act.ActionID, User: user,
			Room: bot.RoomRef{ID: channel, Name: cb.Channel.Name}, Message: bot.MessageRef{ID: ts}}
		a.reply(ctx, in, "", "")
	}
}

// maxClicks bounds the "who clicked" lines kept in memory.
const maxClicks = 10000

// showClick edits the clicked message at once to say who clicked what; later
// versions of the message keep the line (Update).
func (a *Adapter) showClick(ctx context.Context, channel, ts string, m slack.Message, line string) {
	a.mu.Lock()
	if len(a.clicks) >= maxClicks {
		clear(a.clicks) // old rooms' lines; the rooms still show them until their next edit
	}
	a.clicks[channel+"/"+ts] = line
	a.mu.Unlock()
	if len(m.Blocks.BlockSet) == 0 {
		return
	}
	blocks := withClick(m.Blocks.BlockSet, line)
	if _, _, _, err := a.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(firstNonEmpty(m.Text, "warroom"), false),
		slack.MsgOptionBlocks(blocks...)); err != nil {
		a.o.Log.Warn("slack: show who clicked", "channel", channel, "err", wrap("chat.update", err))
	}
}

// handleCommand handles /warroom.
func (a *Adapter) handleCommand(ctx context.Context, cmd slack.SlashCommand) {
	a.command(ctx, cmd.UserID, cmd.UserName, cmd.ChannelID, cmd.Text, cmd.ResponseURL)
}

func (a *Adapter) command(ctx context.Context, uid, uname, channel, text, responseURL string) {
	text = strings.TrimSpace(normalizeMentions(text))
	if text == "" {
		text = "help"
	}
	in := bot.Interaction{Platform: Name, Kind: bot.Command, Text: text, User: a.user(ctx, uid, uname), Room: bot.RoomRef{ID: channel}}
	a.reply(ctx, in, responseURL, channel)
}

// reply runs an interaction through the bot and answers the user privately when the
// reply is private (a refusal, help, a command typed outside the incident's room).
// Public replies reach the room through the outbox.
func (a *Adapter) reply(ctx context.Context, in bot.Interaction, responseURL, channel string) {
	if a.interact == nil {
		a.private(ctx, in, responseURL, "warroom is starting; try again in a moment.")
		return
	}
	rep, err := a.interact.Interact(ctx, in)
	if err != nil {
		a.o.Log.Error("slack: interaction failed", "user", in.User.ID, "channel", in.Room.ID, "err", err)
		a.private(ctx, in, responseURL, "warroom could not handle this; try again in a moment.")
		return
	}
	if rep.Private && rep.Text != "" {
		text := rep.Text
		if rep.Refused {
			text = "⛔ " + text
		}
		a.private(ctx, in, responseURL, text)
	}
}

// private shows text to the interaction's user alone: through the command's
// response_url when there is one, else chat.postEphemeral in the channel.
func (a *Adapter) private(ctx context.Context, in bot.Interaction, responseURL, text string) {
	msg := &bot.Message{Key: "ephemeral", Kind: bot.KindReply, Text: text, Fallback: bot.Truncate(text, 150)}
	if responseURL != "" && a.responseURLAllowed(responseURL) {
		r := Render(msg)
		body, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "text": r.Text, "blocks": r.Blocks})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			resp, err := a.http.Do(req)
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL is a credential: it posts in the channel for 30 minutes
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			a.o.Log.Warn("slack: answer through response_url; trying chat.postEphemeral", "err", err)
		}
	}
	if in.Room.ID == "" {
		return
	}
	if err := a.PostEphemeral(ctx, in.Room, in.User, msg); err != nil {
		a.o.Log.Warn("slack: private answer", "user", in.User.ID, "channel", in.Room.ID, "err", err)
	}
}

// responseURLAllowed accepts Slack's own hooks host, or the configured API's host (a
// proxy or test server standing in for Slack): nothing else gets a request from here.
func (a *Adapter) responseURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return false
	}
	if u.Scheme == "https" && (u.Host == "hooks.slack.com" || strings.HasSuffix(u.Host, ".slack.com")) {
		return true
	}
	return u.Scheme == a.apiURL.Scheme && strings.EqualFold(u.Host, a.apiURL.Host)
}

// user builds the platform identity: the Slack user id, a display name, and the user
// groups the user belongs to.
func (a *Adapter) user(ctx context.Context, id, name string) bot.User {
	return bot.User{ID: id, Name: name, Groups: a.Groups(ctx, id)}
}
