package connectors

import "github.com/warroom/warroom/internal/strictyaml"

// DecodeStrict decodes a connector's YAML settings into v (a pointer to a struct that
// already holds the defaults). Unknown keys are errors naming the line, the key and the
// allowed keys; type errors name the line. Empty input leaves v unchanged.
func DecodeStrict(raw []byte, v any) error { return strictyaml.DecodeBytes(raw, v) }
