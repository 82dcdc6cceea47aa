package connectors

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
)

const redacted = "[redacted]"

// Secret holds a credential read from the environment or a file. It never prints
// itself: String, GoString, text/JSON marshalling and slog all render "[redacted]".
// Only Reveal returns the value, for the one place that puts it on the wire.
//
// The value sits behind a pointer so that even fmt printing a struct with an
// unexported Secret field (where it cannot call String) shows an address, not the
// value.
type Secret struct{ p *string }

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{p: &v} }

// Reveal returns the secret value.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// Equal compares candidate with the secret in constant time (independent of where
// they differ and of their lengths).
func (s Secret) Equal(candidate string) bool {
	v := s.Reveal()
	a := sha256.Sum256([]byte(v))
	b := sha256.Sum256([]byte(candidate))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && v != ""
}

// String renders "[redacted]".
func (s Secret) String() string { return redacted }

// GoString renders "[redacted]" for %#v.
func (s Secret) GoString() string { return redacted }

// MarshalText renders "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue renders "[redacted]" in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

var _ slog.LogValuer = Secret{}
