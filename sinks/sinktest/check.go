package sinktest

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// InvalidConfigs builds every *.yaml file in dir with build and checks the exact
// error. Each file starts with a line "# want: <error>"; the rest is the sink's
// settings. Files without that line fail the test, so none is silently skipped.
func InvalidConfigs(t *testing.T, dir string, build func(settings *yaml.Node) error) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configurations in %s (%v)", dir, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(raw), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("%s: first line must be \"# want: <exact error>\"", f)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("%s is not YAML: %v", f, err)
			}
			var n *yaml.Node
			if len(doc.Content) > 0 {
				n = doc.Content[0]
			}
			err = build(n)
			if err == nil {
				t.Fatalf("%s: built without error, want %q", f, want)
			}
			if err.Error() != want {
				t.Fatalf("%s:\n got error: %s\nwant error: %s", f, err, want)
			}
		})
	}
}

// LogBuffer collects log output, safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// NewLogger returns a debug-level text logger writing to a LogBuffer.
func NewLogger() (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// NoSecret fails the test if secret, or its base64 encodings, appear in any text.
func NoSecret(t testing.TB, secret string, texts ...string) {
	t.Helper()
	if secret == "" {
		t.Fatal("NoSecret: empty secret")
	}
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawURLEncoding.EncodeToString([]byte(secret))}
	for i, text := range texts {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("text %d leaks the secret: %s", i, text)
			}
		}
	}
}
