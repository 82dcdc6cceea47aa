package app

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/local"
	"github.com/warroom/warroom/commands"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/internal/drain"
	"github.com/warroom/warroom/playbooks"
)

// chatParts are the running pieces of the chat layer.
type chatParts struct {
	mu   sync.Mutex
	stop func()
	// extra are the platforms besides the web chat (Slack, Discord).
	extra []*PlatformPart
}

// PlatformEnv is what a platform builder gets: the configuration, the secrets
// resolver, the clock, the app (its Store, Log and API mux) and the roles.
type PlatformEnv struct {
	App     *App
	Config  *config.Config
	Secrets *config.Secrets
	Getenv  func(string) string
	Clock   clock.Clock
	Roles   *bot.Roles
}

// PlatformPart is a chat platform built from the configuration.
type PlatformPart struct {
	Platform bot.Platform
	// Invite lists the users invited into each new room (may be empty).
	Invite []string
	// Close, when set, is what becomes of a room once its incident is over (a
	// closing summary, archiving after a delay).
	Close *bot.ClosePolicy
	// Attach, when set, is called once the bot exists, so the platform can hand it
	// the clicks and commands it receives.
	Attach func(b *bot.Bot)
	// Start, when set, runs the platform's connections (Socket Mode, the gateway)
	// until ctx ends; it returns when they have stopped.
	Start func(ctx context.Context)
}

// narratorBuilder, when set (by the AI narrative wiring), builds the bot's narrator;
// it may return nil, nil when no model is configured.
var narratorBuilder func(env PlatformEnv) (bot.Narrator, error)

// platformBuilders build the chat platforms besides the web chat, by name. A builder
// returns nil, nil when its platform is not enabled. Each platform's file registers
// itself in init.
var platformBuilders = map[string]func(env PlatformEnv) (*PlatformPart, error){}

// newChat builds the chat layer: the roles, the web chat (mounted on the API's mux
// under /chat/, with / redirecting to it), the command handlers and the bot.
func (a *App) newChat(cfg *config.Config, secrets *config.Secrets, getenv func(string) string, clk clock.Clock, eng *actions.Engine) error {
	var engine commands.Actions
	if eng != nil {
		engine = eng
	}
	var bindings []bot.RoleBinding
	for _, u := range cfg.Platforms.Local.Users {
		bindings = append(bindings, bot.RoleBinding{Platform: local.Name, User: u.Name, Role: u.Role})
	}
	for _, r := range cfg.Chat.Roles {
		bindings = append(bindings, bot.RoleBinding{Platform: r.Platform, User: r.User, Group: r.Group, Role: r.Role})
	}
	roles, err := bot.NewRoles(bindings, cfg.Chat.DefaultRole)
	if err != nil {
		return fmt.Errorf("chat.roles: %w", err)
	}
	var platforms []bot.Platform
	if lc := cfg.Platforms.Local; lc.Enabled {
		users := make([]local.User, 0, len(lc.Users))
		for i, u := range lc.Users {
			where := fmt.Sprintf("platforms.local.users[%d]", i)
			lu := local.User{Name: u.Name, Display: u.Display(), Role: u.Role}
			switch lc.Auth {
			case config.AuthPassword:
				h, err := readHash(where, u, getenv)
				if err != nil {
					return err
				}
				lu.PasswordHash = []byte(h)
			case config.AuthToken:
				if lu.Token, err = secrets.Resolve(where, u.Secret); err != nil {
					return err
				}
			}
			users = append(users, lu)
		}
		chat, err := local.New(local.Options{Store: a.Store, Clock: clk, Log: a.Log.With("platform", local.Name),
			Auth: lc.Auth, Users: users, Listen: cfg.Listen, SessionTTL: time.Duration(lc.SessionTTL)})
		if err != nil {
			return err
		}
		a.Chat = chat
		platforms = append(platforms, chat)
	}
	invite := map[string][]string{}
	closing := map[string]bot.ClosePolicy{}
	for _, name := range sortedKeys(platformBuilders) {
		part, err := platformBuilders[name](PlatformEnv{App: a, Config: cfg, Secrets: secrets, Getenv: getenv, Clock: clk, Roles: roles})
		if err != nil {
			return fmt.Errorf("platforms.%s: %w", name, err)
		}
		if part == nil {
			continue
		}
		platforms = append(platforms, part.Platform)
		if len(part.Invite) > 0 {
			invite[part.Platform.Name()] = part.Invite
		}
		if part.Close != nil {
			closing[part.Platform.Name()] = *part.Close
		}
		a.chat.extra = append(a.chat.extra, part)
	}
	set, err := playbooks.LoadWith(playbooks.Options{Dir: cfg.Playbooks.Dir, InternalNetworks: cfg.Playbooks.Networks(),
		MaxTTL: time.Duration(cfg.Playbooks.MaxTTL), MaxAutoTargets: cfg.Playbooks.MaxAutoTargets, Logger: a.Log})
	if err != nil {
		return fmt.Errorf("playbooks: %w", err)
	}
	pbs := bot.NewPlaybookSet(set, a.Store)
	// Without a response engine proposing the playbooks' actions, the rooms offer them
	// as buttons themselves.
	pbs.Suggest = engine == nil
	handler, err := commands.New(commands.Options{Pipeline: a.Pipeline, Store: a.Store, Actions: engine, Roles: roles,
		Clock: clk, Log: a.Log.With("component", "commands"), Drills: a.drillCommands()})
	if err != nil {
		return err
	}
	var narrator bot.Narrator
	if narratorBuilder != nil {
		if narrator, err = narratorBuilder(PlatformEnv{App: a, Config: cfg, Secrets: secrets, Getenv: getenv, Clock: clk, Roles: roles}); err != nil {
			return fmt.Errorf("ai: %w", err)
		}
	}
	b, err := bot.New(bot.Options{Narrator: narrator, Store: a.Store, Platforms: platforms, Handler: handler, Clock: clk,
		Log: a.Log.With("component", "chat"), Interval: time.Duration(cfg.Chat.UpdateInterval), Playbooks: pbs,
		Events: a.Pipeline, Invite: invite, Closing: closing})
	if err != nil {
		return err
	}
	a.Bot = b
	for _, p := range a.chat.extra {
		if p.Attach != nil {
			p.Attach(b)
		}
	}
	if a.Chat != nil {
		a.Chat.Attach(b)
		a.API.Handle("/chat/", a.Chat.Handler())
		a.API.Handle("GET /{$}", local.RedirectHome())
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readHash reads a web chat user's bcrypt hash from its environment variable or file.
func readHash(where string, u config.LocalUser, getenv func(string) string) (string, error) {
	if u.PasswordHashFile != "" {
		b, err := os.ReadFile(u.PasswordHashFile)
		if err != nil {
			return "", fmt.Errorf("%s.password_hash_file: %w", where, err)
		}
		if h := strings.TrimSpace(string(b)); h != "" {
			return h, nil
		}
		return "", fmt.Errorf("%s.password_hash_file: %s is empty", where, u.PasswordHashFile)
	}
	if h := strings.TrimSpace(getenv(u.PasswordHashEnv)); h != "" {
		return h, nil
	}
	return "", fmt.Errorf("%s.password_hash_env: environment variable %s is unset; export the user's bcrypt hash in it", where, u.PasswordHashEnv)
}

// StartChat runs the chat layer (room syncing and the outbox) until the returned
// function is called or ctx ends; the function waits for it to stop. Changes of the
// response engine's actions kick their incidents' rooms.
func (a *App) StartChat(ctx context.Context) func() {
	if a.Bot == nil {
		return func() {}
	}
	a.chat.mu.Lock()
	defer a.chat.mu.Unlock()
	if a.chat.stop != nil {
		return a.chat.stop
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.Bot.Run(ctx)
	}()
	for _, p := range a.chat.extra {
		if p.Start != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.Start(ctx)
			}()
		}
	}
	if a.Actions != nil {
		// Rooms show action changes at once: each change of the response engine
		// kicks its incident's sync (a map insert: the subscription never backs up).
		evs, unsub := a.Actions.Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unsub()
			drain.Each(ctx, evs, func(ev actions.Event) {
				if ev.IncidentID > 0 {
					a.Bot.Kick(ev.IncidentID)
				}
			})
		}()
	}
	var once sync.Once
	a.chat.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
	return a.chat.stop
}

// stopChat stops the chat layer if it runs.
func (a *App) stopChat() {
	a.chat.mu.Lock()
	stop := a.chat.stop
	a.chat.mu.Unlock()
	if stop != nil {
		stop()
	}
	if a.Chat != nil {
		a.Chat.CloseStreams()
	}
}
