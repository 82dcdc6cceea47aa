package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/warroom/warroom/bot"
)

const (
	// SignatureWindow is how far an HTTP interaction's timestamp may be from the
	// clock.
	SignatureWindow = 5 * time.Minute
	// NonceScope is the nonce scope of HTTP interaction ids.
	NonceScope = "discord:interaction"
	// CommandName is the slash command.
	CommandName = "warroom"
	// CommandOption is the slash command's one option: the command text.
	CommandOption      = "command"
	maxInteractionBody = 1 << 20
)

// Commands are the application commands registered in the guild.
func Commands() []*discordgo.ApplicationCommand {
	return []*discordgo.ApplicationCommand{{
		Name:        CommandName,
		Type:        discordgo.ChatApplicationCommand,
		Description: "Incident commands: help, ack, resolve, block 203.0.113.7 24h...",
		Options: []*discordgo.ApplicationCommandOption{{
			Type:        discordgo.ApplicationCommandOptionString,
			Name:        CommandOption,
			Description: "The command and its arguments; leave empty for help",
			Required:    false,
			MaxLength:   1000,
		}},
	}}
}

// Handler returns the HTTP interactions endpoint, mounted at POST
// /discord/interactions.
func (a *Adapter) Handler() http.Handler { return http.HandlerFunc(a.serveHTTP) }

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// Verify checks an HTTP interaction's signature and timestamp. It returns a reason
// for refusing it, or "" when it is genuine and fresh.
func Verify(pub ed25519.PublicKey, now time.Time, sigHex, ts string, body []byte) string {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "missing or malformed X-Signature-Ed25519"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "missing or malformed X-Signature-Timestamp"
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(pub, msg, sig) {
		return "invalid request signature"
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureWindow || d < -SignatureWindow {
		return "stale request: the signature timestamp is more than 5 minutes from now"
	}
	return ""
}

func (a *Adapter) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if a.o.Mode != ModeHTTP {
		httpError(w, http.StatusNotFound, "the Discord interactions endpoint is off (platforms.discord.mode is gateway)")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxInteractionBody+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read the body")
		return
	}
	if len(body) > maxInteractionBody {
		httpError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	if why := Verify(a.o.PublicKey, a.clk.Now(), r.Header.Get("X-Signature-Ed25519"), r.Header.Get("X-Signature-Timestamp"), body); why != "" {
		// The reason is logged, never told: a prober learns nothing from the answer.
		a.log.Warn("discord: interaction refused", "reason", why, "remote", r.RemoteAddr)
		httpError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	var in discordgo.Interaction
	if err := json.Unmarshal(body, &in); err != nil || in.ID == "" || in.Type == 0 {
		httpError(w, http.StatusBadRequest, "not a Discord interaction")
		return
	}
	if in.AppID != a.o.ApplicationID {
		httpError(w, http.StatusBadRequest, "the interaction is for another application")
		return
	}
	first, err := a.o.Nonces.ClaimNonce(r.Context(), NonceScope, in.ID, a.clk.Now().Add(2*SignatureWindow+time.Minute))
	if err != nil {
		a.log.Error("discord: record an interaction id", "err", err)
		httpError(w, http.StatusServiceUnavailable, "try again")
		return
	}
	if !first {
		a.log.Warn("discord: replayed interaction refused", "interaction", in.ID, "remote", r.RemoteAddr)
		httpError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	resp, work := a.accept(&in)
	out, err := json.Marshal(resp)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "encode the response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	_, _ = w.Write(out)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if work != nil {
		a.spawn(work)
	}
}

// onInteraction handles INTERACTION_CREATE from the gateway.
func (a *Adapter) onInteraction(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
	if ic == nil || ic.Interaction == nil {
		return
	}
	resp, work := a.accept(ic.Interaction)
	ctx, cancel := context.WithTimeout(a.baseContext(), 3*time.Second)
	defer cancel()
	if err := a.api.InteractionRespond(ic.Interaction, resp, discordgo.WithContext(ctx)); err != nil {
		a.log.Warn("discord: answer an interaction", "interaction", ic.ID, "err", hideToken(err, ic.Token))
		return
	}
	if work != nil {
		a.spawn(work)
	}
}

func (a *Adapter) baseContext() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.base
}

// spawn runs interaction work after the acknowledgement, tracked so Run waits for it.
func (a *Adapter) spawn(work func(ctx context.Context)) {
	ctx := a.baseContext()
	a.work.Add(1)
	go func() {
		defer a.work.Done()
		ctx, cancel := context.WithTimeout(ctx, 14*time.Minute) // interaction tokens last 15
		defer cancel()
		work(ctx)
	}()
}

// failedText answers an interaction whose handling failed. The error stays in the log:
// it may name internal hosts or carry what a connector echoed back.
const failedText = "warroom could not handle this; try again in a moment."

func ephemeral(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: cut(text, MaxContent), Flags: discordgo.MessageFlagsEphemeral,
			AllowedMentions: noMentions()}}
}

// confirmation answers a click on a button that asks to be confirmed: a message only
// the clicker sees, naming what the button does, with Go ahead and Cancel.
func confirmation(i *discordgo.Interaction, actionID string) *discordgo.InteractionResponse {
	label := "this"
	if i.Message != nil {
		for _, c := range i.Message.Components {
			row, ok := c.(*discordgo.ActionsRow)
			if !ok {
				continue
			}
			for _, b := range row.Components {
				if btn, ok := b.(*discordgo.Button); ok && btn.CustomID == ConfirmPrefix+actionID {
					label = btn.Label
				}
			}
		}
	}
	r := ephemeral("**" + bot.EscapeDiscord(label) + "?** It acts as you; your role is checked when you go ahead.")
	r.Data.Components = []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "Go ahead", Style: discordgo.DangerButton, CustomID: GoPrefix + actionID},
		discordgo.Button{Label: "Cancel", Style: discordgo.SecondaryButton, CustomID: CancelPrefix + actionID},
	}}}
	return r
}

// settled replaces the confirmation message with text and no buttons, so it cannot
// be clicked twice.
func settled(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{Content: text, Components: []discordgo.MessageComponent{},
			Embeds: []*discordgo.MessageEmbed{}, AllowedMentions: noMentions()}}
}

// hideToken removes an interaction's token from err: the token is in the URL of the
// callback, follow-up and edit calls, Go's transport errors and discordgo's rate
// limit errors quote that URL, and whoever holds the token may post as the bot in
// the channel for 15 minutes.
func hideToken(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &hidden{msg: strings.ReplaceAll(err.Error(), token, "[interaction token]"), err: err}
}

// hidden is an error whose text no longer holds a secret; errors.Is and As still see
// the original.
type hidden struct {
	msg string
	err error
}

func (e *hidden) Error() string { return e.msg }
func (e *hidden) Unwrap() error { return e.err }

// UserOf is the identity of an interaction's member: the Discord user id, a display
// name, and the member's guild role ids as groups.
func UserOf(m *discordgo.Member) (bot.User, bool) {
	if m == nil || m.User == nil || m.User.ID == "" {
		return bot.User{}, false
	}
	name := m.Nick
	if name == "" {
		name = m.User.GlobalName
	}
	if name == "" {
		name = m.User.Username
	}
	return bot.User{ID: m.User.ID, Name: bot.CleanText(name), Groups: append([]string(nil), m.Roles...)}, true
}

// accept decides the immediate answer to an interaction and the work to do after it.
func (a *Adapter) accept(i *discordgo.Interaction) (*discordgo.InteractionResponse, func(ctx context.Context)) {
	if i.Type == discordgo.InteractionPing {
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}, nil
	}
	if i.GuildID != a.o.GuildID {
		return ephemeral("warroom answers in its own server only."), nil
	}
	user, ok := UserOf(i.Member)
	if !ok {
		return ephemeral("warroom could not tell who you are."), nil
	}
	in := a.interactor()
	if in == nil {
		return ephemeral("warroom is starting; try again in a moment."), nil
	}
	switch i.Type {
	case discordgo.InteractionMessageComponent:
		data := i.MessageComponentData()
		msg := bot.MessageRef{}
		if i.Message != nil {
			msg.ID = i.Message.ID
		}
		id := data.CustomID
		ack := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		switch {
		case strings.HasPrefix(id, ConfirmPrefix):
			return confirmation(i, strings.TrimPrefix(id, ConfirmPrefix)), nil
		case strings.HasPrefix(id, CancelPrefix):
			return settled("Cancelled: nothing was done."), nil
		case strings.HasPrefix(id, GoPrefix):
			id = strings.TrimPrefix(id, GoPrefix)
			ack = settled("Working on it…")
		}
		act := bot.Interaction{Platform: Name, Kind: bot.Click, ActionID: id, User: user,
			Room: bot.RoomRef{ID: i.ChannelID}, Message: msg}
		return ack, func(ctx context.Context) {
			rep, err := in.Interact(ctx, act)
			text := rep.Text
			if err != nil {
				a.log.Warn("discord: click failed", "user", user.ID, "err", err)
				text = failedText
			} else if !rep.Private {
				return // the room shows it, and the message is edited through the outbox
			}
			if text == "" {
				return
			}
			_, ferr := a.api.FollowupMessageCreate(i, true, &discordgo.WebhookParams{Content: cut(bot.EscapeDiscord(text), MaxContent),
				Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()}, discordgo.WithContext(ctx))
			if ferr != nil {
				a.log.Warn("discord: answer a click", "user", user.ID, "err", hideToken(ferr, i.Token))
			}
		}
	case discordgo.InteractionApplicationCommand:
		data := i.ApplicationCommandData()
		if data.Name != CommandName {
			return ephemeral(fmt.Sprintf("Unknown command /%s; use /%s.", bot.EscapeDiscord(data.Name), CommandName)), nil
		}
		text := "help"
		for _, o := range data.Options {
			if o.Name == CommandOption && o.Type == discordgo.ApplicationCommandOptionString {
				if s := strings.TrimSpace(o.StringValue()); s != "" {
					text = s
				}
			}
		}
		act := bot.Interaction{Platform: Name, Kind: bot.Command, Text: text, User: user, Room: bot.RoomRef{ID: i.ChannelID}}
		resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()}}
		return resp, func(ctx context.Context) {
			rep, err := in.Interact(ctx, act)
			text := rep.Text
			switch {
			case err != nil:
				a.log.Warn("discord: command failed", "user", user.ID, "err", err)
				text = failedText
			case !rep.Private:
				text = "Done: the answer is posted in the incident's room."
			case text == "":
				text = "Done."
			}
			content := cut(bot.EscapeDiscord(text), MaxContent)
			_, eerr := a.api.InteractionResponseEdit(i, &discordgo.WebhookEdit{Content: &content, AllowedMentions: noMentions()},
				discordgo.WithContext(ctx))
			if eerr != nil {
				a.log.Warn("discord: answer a command", "user", user.ID, "err", hideToken(eerr, i.Token))
			}
		}
	}
	return ephemeral("warroom does not handle this kind of interaction."), nil
}

// Run registers the slash command in the guild (a bulk overwrite, so stale commands
// disappear) and, in gateway mode, keeps the gateway connection, until ctx ends. It
// retries what fails with backoff. ready, when not nil, is closed once the command is
// registered and the gateway (if any) connected.
func (a *Adapter) Run(ctx context.Context, ready chan<- struct{}) {
	a.mu.Lock()
	a.base = ctx
	a.mu.Unlock()
	defer a.work.Wait()
	if !a.retry(ctx, "register the slash command", func() error {
		_, err := a.api.ApplicationCommandBulkOverwrite(a.o.ApplicationID, a.o.GuildID, Commands(), discordgo.WithContext(ctx))
		return err
	}) {
		return
	}
	a.log.Info("discord: /warroom registered", "guild", a.o.GuildID)
	if a.o.Mode == ModeGateway {
		remove := a.s.AddHandler(a.onInteraction)
		defer remove()
		if !a.retry(ctx, "connect to the gateway", a.s.Open) {
			return
		}
		a.log.Info("discord: connected to the gateway")
		defer func() {
			if err := a.s.Close(); err != nil {
				a.log.Warn("discord: close the gateway", "err", err)
			}
		}()
	}
	if ready != nil {
		close(ready)
	}
	<-ctx.Done()
}

// retry calls f until it succeeds or ctx ends, with backoff (or Discord's
// retry_after); it reports whether f succeeded.
func (a *Adapter) retry(ctx context.Context, what string, f func() error) bool {
	b := bot.Backoff{Base: time.Second, Max: time.Minute}
	for n := 1; ; n++ {
		err := f()
		if err == nil {
			return true
		}
		wait := b.Delay(n)
		if d, ok := bot.RetryAfter(classify(what, err)); ok {
			wait = d
		}
		if ctx.Err() != nil {
			return false
		}
		a.log.Warn("discord: "+what+" failed; retrying", "in", wait, "err", err)
		var pe *bot.Error
		if errors.As(classify(what, err), &pe) && pe.Permanent {
			wait = max(wait, 30*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}
