package connectors

import "github.com/warroom/warroom/internal/secret"

const redacted = secret.Redacted

// Secret holds a credential read from the environment or a file; it never prints
// itself (see internal/secret). Only Reveal returns the value.
type Secret = secret.Secret

// NewSecret wraps v.
func NewSecret(v string) Secret { return secret.New(v) }
