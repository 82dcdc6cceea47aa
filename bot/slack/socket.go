package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocket connects to Slack in Socket Mode and handles what arrives until ctx ends:
// each envelope is acknowledged at once, then handled. Connection failures are
// retried with backoff; it returns when ctx ends (after the work in hand is done).
func (a *Adapter) RunSocket(ctx context.Context) error {
	if a.client == nil {
		return errors.New("slack: Socket Mode needs the adapter built with New")
	}
	if a.o.AppToken == "" {
		return errors.New("slack: Socket Mode needs the app-level token (xapp-…)")
	}
	defer a.work.Wait()
	backoff := time.Second
	for ctx.Err() == nil {
		sm := socketmode.New(a.client)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sm.RunContext(cctx) }()
		err := a.consume(cctx, sm, done)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		a.o.Log.Warn("slack: Socket Mode connection ended; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, time.Minute)
	}
	return nil
}

// consume reads the Socket Mode client's events until it stops.
func (a *Adapter) consume(ctx context.Context, sm *socketmode.Client, done <-chan error) error {
	for {
		select {
		case err := <-done:
			return err
		case evt, ok := <-sm.Events:
			if !ok {
				return errors.New("the event stream closed")
			}
			a.socketEvent(ctx, sm, evt)
		}
	}
}

func (a *Adapter) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.o.Log.Info("slack: connected in Socket Mode")
	case socketmode.EventTypeConnectionError:
		a.o.Log.Warn("slack: Socket Mode connection failed", "err", evt.Data)
	case socketmode.EventTypeInvalidAuth:
		a.o.Log.Error("slack: Socket Mode refused the app-level token; check platforms.slack.app_token_env / app_token_file")
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand:
		req := evt.Request
		if req == nil {
			return
		}
		// Acknowledge first: Slack wants it within three seconds.
		if err := sm.AckCtx(ctx, req.EnvelopeID, nil); err != nil {
			a.o.Log.Warn("slack: acknowledge an envelope", "envelope", req.EnvelopeID, "err", err)
			return
		}
		payload := append(json.RawMessage(nil), req.Payload...)
		switch evt.Type {
		case socketmode.EventTypeEventsAPI:
			env, err := ParseEnvelope(payload)
			if err != nil {
				a.o.Log.Warn("slack: unreadable events_api envelope", "err", err)
				return
			}
			if err := a.checkTeam(ctx, env.TeamID); err != nil {
				a.o.Log.Warn("slack: event refused", "err", err)
				return
			}
			a.later(func(ctx context.Context) { a.handleEnvelope(ctx, env) })
		case socketmode.EventTypeInteractive:
			cb, err := ParseInteraction(payload)
			if err != nil {
				a.o.Log.Warn("slack: unreadable interactive envelope", "err", err)
				return
			}
			if err := a.checkTeam(ctx, cb.Team.ID); err != nil {
				a.o.Log.Warn("slack: interaction refused", "err", err)
				return
			}
			if err := a.checkUserTeam(ctx, cb.User.TeamID); err != nil {
				a.o.Log.Warn("slack: interaction refused", "user", cb.User.ID, "err", err)
				return
			}
			a.later(func(ctx context.Context) { a.handleInteraction(ctx, cb) })
		case socketmode.EventTypeSlashCommand:
			var cmd slack.SlashCommand
			if err := json.Unmarshal(payload, &cmd); err != nil {
				a.o.Log.Warn("slack: unreadable slash_commands envelope", "err", err)
				return
			}
			if err := a.checkCommand(cmd); err != nil {
				a.o.Log.Warn("slack: command refused", "err", err)
				return
			}
			if err := a.checkTeam(ctx, cmd.TeamID); err != nil {
				a.o.Log.Warn("slack: command refused", "err", err)
				return
			}
			a.later(func(ctx context.Context) { a.handleCommand(ctx, cmd) })
		}
	}
}

// rewriteSocketURL replaces the url of an apps.connections.open answer.
func rewriteSocketURL(resp *http.Response, socketURL string) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read apps.connections.open: %w", err)
	}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil && m["ok"] == true {
		m["url"] = socketURL
		if b, err := json.Marshal(m); err == nil {
			body = b
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}
