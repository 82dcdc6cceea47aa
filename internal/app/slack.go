package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/warroom/warroom/bot"
	slackbot "github.com/warroom/warroom/bot/slack"
	"github.com/warroom/warroom/config"
)

func init() { platformBuilders[slackbot.Name] = buildSlack }

// buildSlack builds the Slack platform from platforms.slack: the adapter, its HTTP
// endpoints under /slack/ (mode events) or its Socket Mode connection (mode socket).
func buildSlack(env PlatformEnv) (*PlatformPart, error) {
	sc := env.Config.Platforms.Slack
	if !sc.Enabled {
		return nil, nil
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	botToken, err := slackSecret(getenv, "bot_token", sc.BotTokenEnv, sc.BotTokenFile)
	if err != nil {
		return nil, err
	}
	o := slackbot.Options{BotToken: botToken, APIURL: sc.APIURL, SocketURL: sc.SocketURL, TeamID: sc.TeamID,
		Private: sc.PrivateChannels, Prefix: sc.ChannelPrefix, Command: sc.Command, GroupRefresh: time.Duration(sc.GroupRefresh),
		Store: env.App.Store, Clock: env.Clock, Log: env.App.Log.With("platform", slackbot.Name)}
	if sc.Mode == config.SlackModeSocket {
		if o.AppToken, err = slackSecret(getenv, "app_token", sc.AppTokenEnv, sc.AppTokenFile); err != nil {
			return nil, err
		}
	} else if o.SigningSecret, err = slackSecret(getenv, "signing_secret", sc.SigningSecretEnv, sc.SigningSecretFile); err != nil {
		return nil, err
	}
	a, err := slackbot.New(o)
	if err != nil {
		return nil, err
	}
	part := &PlatformPart{Platform: a, Attach: func(b *bot.Bot) { a.Attach(b) },
		Close: &bot.ClosePolicy{Summary: true, ArchiveAfter: time.Duration(sc.ArchiveAfter)}}
	part.Invite = append(part.Invite, sc.InviteUsers...)
	if sc.InviteUsergroup != "" {
		part.Invite = append(part.Invite, sc.InviteUsergroup) // the adapter invites its members
	}
	check := func(ctx context.Context) {
		if id, err := a.Check(ctx); err != nil {
			env.App.Log.Error("slack: the bot token does not work (auth.test); incident channels wait in the outbox", "err", err)
		} else {
			env.App.Log.Info("slack: signed in", "bot_user", id, "mode", sc.Mode)
		}
	}
	if sc.Mode == config.SlackModeSocket {
		part.Start = func(ctx context.Context) {
			check(ctx)
			if err := a.RunSocket(ctx); err != nil {
				env.App.Log.Error("slack: Socket Mode stopped", "err", err)
			}
		}
	} else {
		env.App.API.Handle("/slack/", a.Handler())
		part.Start = func(ctx context.Context) {
			check(ctx)
			<-ctx.Done()
			a.Wait()
		}
	}
	return part, nil
}

// slackSecret reads a Slack secret from its environment variable or file. The error
// names the key, never the value.
func slackSecret(getenv func(string) string, key, env, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", key, err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s_file: %s is empty", key, file)
	}
	if v := strings.TrimSpace(getenv(env)); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s_env: environment variable %s is unset; export the %s in it", key, env, strings.ReplaceAll(key, "_", " "))
}
