package slack

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/slack-go/slack"

	"github.com/warroom/warroom/bot"
)

// scopeOf names the bot token scope each Web API method needs, for the error of a
// missing_scope answer (Slack names it too, in "needed"; this is the fallback).
var scopeOf = map[string]string{
	"conversations.create":     "channels:manage (groups:write for private channels)",
	"conversations.setTopic":   "channels:manage (groups:write for private channels)",
	"conversations.setPurpose": "channels:manage (groups:write for private channels)",
	"conversations.invite":     "channels:manage (groups:write for private channels)",
	"conversations.archive":    "channels:manage (groups:write for private channels)",
	"conversations.join":       "channels:join",
	"conversations.list":       "channels:read (groups:read for private channels)",
	"conversations.history":    "channels:history (groups:history for private channels)",
	"chat.postMessage":         "chat:write",
	"chat.update":              "chat:write",
	"chat.postEphemeral":       "chat:write",
	"pins.add":                 "pins:write",
	"usergroups.list":          "usergroups:read",
	"usergroups.users.list":    "usergroups:read",
}

// permanentErrors are Slack's answers that retrying cannot change.
var permanentErrors = map[string]string{
	"invalid_auth":          "the bot token is not valid; check platforms.slack.bot_token_env / bot_token_file",
	"not_authed":            "no bot token was sent; check platforms.slack.bot_token_env / bot_token_file",
	"account_inactive":      "the bot token belongs to a deleted user or a removed app; reinstall the app",
	"token_revoked":         "the bot token was revoked; reinstall the app and update the token",
	"no_permission":         "the workspace does not allow the app to do this",
	"restricted_action":     "a workspace setting prevents this (ask an admin who may create channels)",
	"channel_not_found":     "the channel does not exist or the app cannot see it",
	"is_archived":           "the channel was archived in Slack; unarchive it to receive the incident's updates",
	"message_not_found":     "the message was deleted in Slack",
	"cant_update_message":   "the message was not posted by this app",
	"invalid_blocks":        "Slack refused the message's blocks",
	"invalid_name":          "Slack refused the channel name",
	"invalid_name_specials": "Slack refused the channel name",
	"user_not_found":        "a user to invite does not exist in the workspace",
	"user_not_in_channel":   "the user is not in the channel",
	"no_such_subteam":       "the user group does not exist",
	"msg_too_long":          "the message is too long for Slack",
}

// wrap classifies an error from a Web API call for the outbox (bot.Error): 429 with
// its Retry-After, missing scopes naming the scope to add, permanent refusals, and
// transient failures (network, 5xx) to retry.
func wrap(method string, err error) error {
	if err == nil {
		return nil
	}
	e := &bot.Error{Platform: Name, Op: method, Err: err}
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &rl):
		e.RetryAfter = max(rl.RetryAfter, 1e9)
		// Slack's limits are per method and workspace; a limited channel
		// creation or post holds back the others of the same kind anyway.
		e.Global = method == "conversations.create"
		e.Err = fmt.Errorf("rate limited by Slack: %w", err)
	case errors.As(err, &se):
		switch {
		case se.Err == "missing_scope":
			need := se.Needed
			if need == "" {
				need = scopeOf[method]
			}
			e.Permanent = true
			e.Err = fmt.Errorf("%s: missing_scope: the bot token lacks the scope %s; add it under OAuth & Permissions (or update the app from deploy/slack-app-manifest.yaml) and reinstall the app: %w", method, need, err)
		case se.Err == "ratelimited":
			e.RetryAfter = 1e9
		case permanentErrors[se.Err] != "":
			e.Permanent = true
			e.Err = fmt.Errorf("%s: %s: %s: %w", method, se.Err, permanentErrors[se.Err], err)
		case se.Err == "internal_error" || se.Err == "fatal_error" || se.Err == "service_unavailable" || se.Err == "request_timeout":
			e.Err = fmt.Errorf("%s: Slack failed (%w); retrying", method, err)
		default:
			e.Permanent = true
			e.Err = fmt.Errorf("%s: %w", method, err)
		}
	case errors.As(err, &sc):
		e.Permanent = sc.Code >= 400 && sc.Code < 500 && sc.Code != http.StatusRequestTimeout && sc.Code != http.StatusTooManyRequests
		e.Err = fmt.Errorf("%s: HTTP %d from Slack: %w", method, sc.Code, err)
	}
	return e
}

// slackErr returns the error code of a Slack answer ("name_taken"), or "".
func slackErr(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}
