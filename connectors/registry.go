package connectors

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Factory builds a connector from the raw YAML of its settings (everything in the
// connector's configuration block except its name and type) and the environment.
// Factories decode with DecodeStrict, so unknown keys are errors, and fill defaults
// before validating.
type Factory func(raw []byte, env Env) (Connector, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a connector type available under name. Connector packages call it in
// init; it panics on a duplicate or empty name or a nil factory, since that is a
// programming error caught at start-up.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if name == "" || strings.TrimSpace(name) != name {
		panic(fmt.Sprintf("connectors: invalid connector type name %q", name))
	}
	if f == nil {
		panic(fmt.Sprintf("connectors: connector type %q registered with a nil factory", name))
	}
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("connectors: connector type %q registered twice", name))
	}
	registry[name] = f
}

// Lookup returns the factory registered under name.
func Lookup(name string) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[name]
	return f, ok
}

// Names lists the registered connector types, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New builds a connector of type typ. env.Name should carry the instance name; it
// defaults to the type.
func New(typ string, raw []byte, env Env) (Connector, error) {
	f, ok := Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("connector type %q is unknown; registered types: %s", typ, strings.Join(Names(), ", "))
	}
	if env.Name == "" {
		env.Name = typ
	}
	c, err := f(raw, env.WithDefaults())
	if err != nil {
		return nil, fmt.Errorf("connector %q (type %s): %w", env.Name, typ, err)
	}
	return c, nil
}
