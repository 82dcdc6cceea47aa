package slack

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestManifestGrantsExactlyTheScopesUsed keeps deploy/slack-app-manifest.yaml in
// step with the adapter: every scope a called method needs is requested, nothing
// else is, and the URLs, event and command match the handlers.
func TestManifestGrantsExactlyTheScopesUsed(t *testing.T) {
	b, err := os.ReadFile("../../deploy/slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command      string `yaml:"command"`
				URL          string `yaml:"url"`
				ShouldEscape bool   `yaml:"should_escape"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				URL       string   `yaml:"request_url"`
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool   `yaml:"is_enabled"`
				URL     string `yaml:"request_url"`
			} `yaml:"interactivity"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	scope := regexp.MustCompile(`[a-z_]+:[a-z_]+`)
	want := map[string]bool{"commands": true, "app_mentions:read": true}
	for _, s := range scopeOf {
		for _, x := range scope.FindAllString(s, -1) {
			want[x] = true
		}
	}
	got := map[string]bool{}
	for _, s := range m.OAuth.Scopes.Bot {
		got[s] = true
		if !want[s] {
			t.Errorf("the manifest asks for %s, which nothing uses", s)
		}
	}
	for s := range want {
		if !got[s] {
			t.Errorf("the manifest lacks the scope %s", s)
		}
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/warroom" ||
		!strings.HasSuffix(m.Features.SlashCommands[0].URL, "/slack/commands") || !m.Features.SlashCommands[0].ShouldEscape {
		t.Errorf("slash command %+v", m.Features.SlashCommands)
	}
	if !strings.HasSuffix(m.Settings.Events.URL, "/slack/events") || !slices.Equal(m.Settings.Events.BotEvents, []string{"app_mention"}) {
		t.Errorf("events %+v", m.Settings.Events)
	}
	if !m.Settings.Interactivity.Enabled || !strings.HasSuffix(m.Settings.Interactivity.URL, "/slack/interactions") {
		t.Errorf("interactivity %+v", m.Settings.Interactivity)
	}
}
