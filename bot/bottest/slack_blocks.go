package bottest

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// checkBlocks checks a message's blocks against Slack's Block Kit limits and returns
// every problem found (https://docs.slack.dev/reference/block-kit/blocks): at most 50
// blocks; header text plain_text of at most 150 characters; section text at most
// 3,000 and at most 10 fields of 2,000; context at most 10 elements; actions at most
// 25 elements; buttons with plain_text of at most 75, action_id and block_id at most
// 255, action_id unique in the message, style primary or danger, confirmation
// dialogs within their limits.
func checkBlocks(raw json.RawMessage) []string {
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return []string{"blocks is not a JSON array of objects: " + err.Error()}
	}
	var probs []string
	bad := func(i int, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("block %d: ", i)+fmt.Sprintf(format, args...))
	}
	if len(blocks) > 50 {
		probs = append(probs, fmt.Sprintf("%d blocks; at most 50", len(blocks)))
	}
	actionIDs := map[string]bool{}
	for i, b := range blocks {
		var typ, blockID string
		json.Unmarshal(b["type"], &typ)
		if id, ok := b["block_id"]; ok {
			json.Unmarshal(id, &blockID)
			if utf8.RuneCountInString(blockID) > 255 {
				bad(i, "block_id longer than 255")
			}
		}
		switch typ {
		case "header":
			if p := checkText(b["text"], 150, true); p != "" {
				bad(i, "header text: %s", p)
			}
		case "section":
			_, hasText := b["text"]
			_, hasFields := b["fields"]
			if !hasText && !hasFields {
				bad(i, "section without text or fields")
			}
			if hasText {
				if p := checkText(b["text"], 3000, false); p != "" {
					bad(i, "section text: %s", p)
				}
			}
			if hasFields {
				var fields []json.RawMessage
				if err := json.Unmarshal(b["fields"], &fields); err != nil {
					bad(i, "fields is not a list")
				}
				if len(fields) > 10 || len(fields) == 0 {
					bad(i, "%d fields; 1 to 10", len(fields))
				}
				for j, f := range fields {
					if p := checkText(f, 2000, false); p != "" {
						bad(i, "field %d: %s", j, p)
					}
				}
			}
		case "context":
			var els []json.RawMessage
			if err := json.Unmarshal(b["elements"], &els); err != nil || len(els) == 0 || len(els) > 10 {
				bad(i, "context with %d elements; 1 to 10", len(els))
			}
			for j, e := range els {
				if p := checkText(e, 3000, false); p != "" {
					bad(i, "context element %d: %s", j, p)
				}
			}
		case "actions":
			var els []map[string]json.RawMessage
			if err := json.Unmarshal(b["elements"], &els); err != nil || len(els) == 0 || len(els) > 25 {
				bad(i, "actions with %d elements; 1 to 25", len(els))
			}
			for j, e := range els {
				for _, p := range checkButton(e) {
					bad(i, "element %d: %s", j, p)
				}
				var id string
				json.Unmarshal(e["action_id"], &id)
				if actionIDs[id] {
					bad(i, "element %d: action_id %q used twice in the message", j, id)
				}
				actionIDs[id] = true
			}
		case "divider":
		default:
			bad(i, "unexpected block type %q", typ)
		}
	}
	return probs
}

func checkButton(e map[string]json.RawMessage) []string {
	var probs []string
	var typ, id, style, value string
	json.Unmarshal(e["type"], &typ)
	json.Unmarshal(e["action_id"], &id)
	json.Unmarshal(e["style"], &style)
	json.Unmarshal(e["value"], &value)
	if typ != "button" {
		probs = append(probs, fmt.Sprintf("element type %q; warroom sends buttons", typ))
	}
	if id == "" || utf8.RuneCountInString(id) > 255 {
		probs = append(probs, fmt.Sprintf("action_id %q: 1 to 255 characters", id))
	}
	if utf8.RuneCountInString(value) > 2000 {
		probs = append(probs, "value longer than 2000")
	}
	if style != "" && style != "primary" && style != "danger" {
		probs = append(probs, fmt.Sprintf("style %q; primary or danger", style))
	}
	if p := checkText(e["text"], 75, true); p != "" {
		probs = append(probs, "button text: "+p)
	}
	if c, ok := e["confirm"]; ok {
		var conf map[string]json.RawMessage
		if err := json.Unmarshal(c, &conf); err != nil {
			return append(probs, "confirm is not an object")
		}
		for name, limit := range map[string]int{"title": 100, "text": 300, "confirm": 30, "deny": 30} {
			if _, ok := conf[name]; !ok && name != "deny" {
				probs = append(probs, "confirm without "+name)
				continue
			}
			if _, ok := conf[name]; ok {
				if p := checkText(conf[name], limit, name != "text"); p != "" {
					probs = append(probs, "confirm "+name+": "+p)
				}
			}
		}
		var cs string
		json.Unmarshal(conf["style"], &cs)
		if cs != "" && cs != "primary" && cs != "danger" {
			probs = append(probs, fmt.Sprintf("confirm style %q", cs))
		}
	}
	return probs
}

// checkText checks a text object: plain_text or mrkdwn, not empty, at most max
// characters, plain_text only when plainOnly.
func checkText(raw json.RawMessage, max int, plainOnly bool) string {
	var t struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return "not a text object"
	}
	switch {
	case t.Type != "plain_text" && t.Type != "mrkdwn":
		return fmt.Sprintf("type %q; plain_text or mrkdwn", t.Type)
	case plainOnly && t.Type != "plain_text":
		return "must be plain_text"
	case t.Text == "":
		return "empty text"
	case utf8.RuneCountInString(t.Text) > max:
		return fmt.Sprintf("%d characters; at most %d", utf8.RuneCountInString(t.Text), max)
	}
	return ""
}

// CheckSlackBlocks checks blocks (a JSON array) against Slack's Block Kit limits and
// returns every problem found; none for a message Slack accepts.
func CheckSlackBlocks(raw []byte) []string { return checkBlocks(raw) }
