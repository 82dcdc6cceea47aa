package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Slack's request signing (https://docs.slack.dev/authentication/verifying-requests-from-slack):
// X-Slack-Signature is "v0=" + hex(HMAC-SHA256(signing secret, "v0:" + timestamp +
// ":" + raw body)), X-Slack-Request-Timestamp the Unix time it was signed.

// MaxSkew is how far a request's timestamp may be from the clock.
const MaxSkew = 5 * time.Minute

// Verification failures; each is answered 401 and changes nothing.
var (
	ErrNoSignature = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	ErrStale       = errors.New("the request timestamp is more than 5 minutes from the clock")
	ErrForged      = errors.New("the signature does not match the signing secret")
	ErrReplay      = errors.New("this signature was seen before (a replayed request)")
)

// Sign returns the v0 signature of a request body signed at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// ParseSignatureHeaders reads the two signing headers.
func ParseSignatureHeaders(h http.Header) (ts int64, sig string, err error) {
	sig = strings.TrimSpace(h.Get("X-Slack-Signature"))
	raw := strings.TrimSpace(h.Get("X-Slack-Request-Timestamp"))
	if sig == "" || raw == "" {
		return 0, "", ErrNoSignature
	}
	ts, err = strconv.ParseInt(raw, 10, 64)
	if err != nil || ts <= 0 {
		return 0, "", fmt.Errorf("%w: the timestamp %q is not a Unix time", ErrNoSignature, raw)
	}
	if !strings.HasPrefix(sig, "v0=") || len(sig) != 3+64 {
		return 0, "", fmt.Errorf("%w: want v0= and 64 hex digits", ErrForged)
	}
	return ts, sig, nil
}

// verify checks a request's signature and timestamp and claims the signature, so
// that the same request is accepted once: within the window, across restarts too.
func (a *Adapter) verify(ctx context.Context, h http.Header, body []byte) error {
	if a.o.SigningSecret == "" {
		return errors.New("no signing secret is configured")
	}
	ts, sig, err := ParseSignatureHeaders(h)
	if err != nil {
		return err
	}
	now := a.o.Clock.Now()
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	if !hmac.Equal([]byte(Sign(a.o.SigningSecret, ts, body)), []byte(sig)) {
		return ErrForged
	}
	first, err := a.o.Store.ClaimNonce(ctx, "slack:signature", sig, at.Add(2*MaxSkew))
	if err != nil {
		return fmt.Errorf("record the signature: %w", err)
	}
	if !first {
		return ErrReplay
	}
	return nil
}
