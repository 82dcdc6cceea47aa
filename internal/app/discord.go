package app

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/discord"
	"github.com/warroom/warroom/config"
)

func init() { platformBuilders[discord.Name] = buildDiscord }

// buildDiscord builds the Discord platform from platforms.discord: the adapter, its
// HTTP interactions endpoint POST /discord/interactions (mode http) or its gateway
// connection (mode gateway), and the slash command registration at start.
func buildDiscord(env PlatformEnv) (*PlatformPart, error) {
	dc := env.Config.Platforms.Discord
	if !dc.Enabled {
		return nil, nil
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	token, err := discordToken(getenv, dc.Secret)
	if err != nil {
		return nil, err
	}
	o := discord.Options{Token: token, ApplicationID: dc.ApplicationID, GuildID: dc.GuildID, Mode: dc.Mode,
		CategoryID: dc.CategoryID, ThreadChannelID: dc.ThreadChannelID, Private: dc.Private, ResponderRoleIDs: dc.ResponderRoleIDs,
		APIURL: dc.APIURL, ArchiveOnClose: dc.ArchiveOnClose, ArchiveCategoryID: dc.ArchiveCategoryID, LockOnClose: dc.LockOnClose,
		Nonces: env.App.Store, Clock: env.Clock, Log: env.App.Log.With("platform", discord.Name)}
	if dc.PublicKey != "" {
		k, err := hex.DecodeString(dc.PublicKey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public_key: not an Ed25519 public key in hexadecimal")
		}
		o.PublicKey = ed25519.PublicKey(k)
	}
	a, err := discord.New(o)
	if err != nil {
		return nil, err
	}
	if dc.Mode == config.DiscordHTTP {
		env.App.API.Handle("POST /discord/interactions", a.Handler())
	}
	return &PlatformPart{Platform: a, Attach: func(b *bot.Bot) { a.Attach(b) },
		Start: func(ctx context.Context) { a.Run(ctx, nil) }}, nil
}

// discordToken reads the bot token from its environment variable or file. It is never
// generated, and the error names the key, never the value.
func discordToken(getenv func(string) string, s config.Secret) (string, error) {
	if s.TokenFile != "" {
		b, err := os.ReadFile(s.TokenFile)
		if err != nil {
			return "", fmt.Errorf("token_file: %w", err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("token_file: %s is empty", s.TokenFile)
	}
	if v := strings.TrimSpace(getenv(s.TokenEnv)); v != "" {
		return strings.TrimPrefix(v, "Bot "), nil
	}
	return "", fmt.Errorf("token_env: environment variable %s is unset; export the bot token (Bot tab of the developer portal) in it", s.TokenEnv)
}
