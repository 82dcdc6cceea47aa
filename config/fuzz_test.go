package config

import (
	"strings"
	"testing"
)

// FuzzParse: any document either parses into a configuration that passes its own
// validation, or is refused with an error; nothing panics, and an error never repeats
// a value that looks like a secret from the document.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sourcesBase))
	f.Add([]byte("listen: 127.0.0.1:8080\n" + sourcesBase + "platforms:\n  slack: {enabled: true, mode: socket, bot_token_env: SLACK_BOT_TOKEN, app_token_env: SLACK_APP_TOKEN}\n"))
	f.Add([]byte(sourcesBase + "ai: {enabled: true, base_url: http://127.0.0.1:11434/v1, model: m}\n"))
	f.Add([]byte(sourcesBase + "drills:\n  enabled: true\n  schedules: [{name: w, scenario: ssh-rdp-bruteforce, cron: '@weekly'}]\n"))
	f.Add([]byte(sourcesBase + "platforms:\n  discord: {enabled: true, mode: http, application_id: '1', guild_id: '2', token_env: T, public_key: zz}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			if strings.Contains(err.Error(), "pasted-fuzzsecret") {
				t.Errorf("error repeats a secret: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Parse accepted a configuration that Validate refuses: %v", err)
		}
	})
}
