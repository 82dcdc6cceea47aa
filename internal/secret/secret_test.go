package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrintsItself(t *testing.T) {
	const v = "s3cr3t-value"
	s := New(v)
	holder := struct {
		Name string
		key  Secret
	}{"x", s}
	j, err := json.Marshal(map[string]Secret{"k": s})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "secret", s)
	for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprintf("%+v %#v", holder, holder), string(j), logs.String()} {
		if strings.Contains(out, v) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != v {
		t.Errorf("Reveal: %q", s.Reveal())
	}
}

func TestEqual(t *testing.T) {
	s := New("abc")
	if !s.Equal("abc") || s.Equal("abd") || s.Equal("") || s.Equal("abcd") {
		t.Error("Equal compares wrongly")
	}
	if (Secret{}).Equal("") || !(Secret{}).IsZero() {
		t.Error("the zero secret equals the empty string or is not zero")
	}
}
