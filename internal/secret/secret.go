// Package secret holds the credential type every integration shares: a value read
// from the environment or a file that never prints itself.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
)

// Redacted is what a Secret renders as anywhere but Reveal.
const Redacted = "[redacted]"

// Secret holds a credential read from the environment or a file. It never prints
// itself: String, GoString, text/JSON marshalling and slog all render "[redacted]".
// Only Reveal returns the value, for the one place that puts it on the wire.
//
// The value sits behind a pointer so that even fmt printing a struct with an
// unexported Secret field (where it cannot call String) shows an address, not the
// value.
type Secret struct{ p *string }

// New wraps v.
func New(v string) Secret { return Secret{p: &v} }

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
// they differ and of their lengths). An empty secret equals nothing.
func (s Secret) Equal(candidate string) bool {
	v := s.Reveal()
	a := sha256.Sum256([]byte(v))
	b := sha256.Sum256([]byte(candidate))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && v != ""
}

// String renders "[redacted]".
func (s Secret) String() string { return Redacted }

// GoString renders "[redacted]" for %#v.
func (s Secret) GoString() string { return Redacted }

// MarshalText renders "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue renders "[redacted]" in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

var _ slog.LogValuer = Secret{}
