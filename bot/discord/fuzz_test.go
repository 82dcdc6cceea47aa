package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
)

// FuzzInteraction feeds validly signed bodies of any shape to the HTTP interactions
// endpoint: it must answer 200 with an interaction response, or refuse with 400 or
// 401, and never panic.
func FuzzInteraction(f *testing.F) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	st, err := store.OpenSQLite(context.Background(), filepath.Join(f.TempDir(), "w.db"), store.Options{Clock: clk})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	a, err := New(Options{Token: "t", ApplicationID: "1", GuildID: "9", Mode: ModeHTTP, PublicKey: pub, Nonces: st,
		APIURL: "http://127.0.0.1:1", Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	// No bot attached: interactions are answered at once and nothing is sent after.
	h := a.Handler()
	ts := strconv.FormatInt(clk.Now().Unix(), 10)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/discord/interactions", bytes.NewReader(body))
		req.Header.Set("X-Signature-Timestamp", ts)
		req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, append([]byte(ts), body...))))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			var resp struct {
				Type int `json:"type"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Type < 1 {
				t.Errorf("200 without an interaction response: %q", w.Body.String())
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Errorf("status %d for %q", w.Code, body)
		}
	})
}
