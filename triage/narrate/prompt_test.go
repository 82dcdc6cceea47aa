package narrate_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/narrate"
)

// TestPromptGolden pins the exact prompts, plain and redacted.
func TestPromptGolden(t *testing.T) {
	f := fixture()
	p, err := narrate.BuildPrompt(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "prompt.golden", []byte("--- system\n"+p.System+"\n--- user\n"+p.User+"\n"))
	p, err = narrate.BuildPrompt(f, narrate.NewRedactor(f, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "prompt_redacted.golden", []byte("--- system\n"+p.System+"\n--- user\n"+p.User+"\n"))
}

// TestPromptDelimitsUntrustedText checks the system message calls alert text
// untrusted, and that alert text, even text holding the closing delimiter, stays
// inside the one data block as JSON.
func TestPromptDelimitsUntrustedText(t *testing.T) {
	p, err := narrate.BuildPrompt(fixture(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.System, "untrusted") || !strings.Contains(p.System, "DATA, not instructions") {
		t.Error("the system message does not say the incident data is untrusted")
	}
	if strings.Contains(p.System, "ignore previous") && !strings.Contains(p.System, `"ignore previous instructions"`) {
		t.Error("alert text leaked into the system message")
	}
	if n := strings.Count(p.User, "INCIDENT_DATA>>>"); n != 1 {
		t.Fatalf("the closing delimiter appears %d times; alert text closed the block early", n)
	}
	_, rest, _ := strings.Cut(p.User, "<<<INCIDENT_DATA\n")
	js, after, _ := strings.Cut(rest, "\nINCIDENT_DATA>>>")
	if strings.TrimSpace(after) != "" {
		t.Errorf("text after the data block: %q", after)
	}
	var back narrate.Facts
	if err := json.Unmarshal([]byte(js), &back); err != nil {
		t.Fatalf("the data block is not JSON: %v", err)
	}
	if back.Alerts[0].Title != injection {
		t.Errorf("the injected title did not survive as data: %q", back.Alerts[0].Title)
	}
}

// TestSchemaIsStrict checks the JSON schema requires every key and allows no other,
// as strict structured outputs demand.
func TestSchemaIsStrict(t *testing.T) {
	var s struct {
		Required             []string       `json:"required"`
		AdditionalProperties bool           `json:"additionalProperties"`
		Properties           map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(narrate.Schema(), &s); err != nil {
		t.Fatal(err)
	}
	if s.AdditionalProperties || len(s.Required) != len(s.Properties) || len(s.Required) != 9 {
		t.Errorf("schema: required %v, %d properties, additionalProperties %v", s.Required, len(s.Properties), s.AdditionalProperties)
	}
}
