// Package ingest turns what monitoring and security tools send into normalized alerts:
// one decoder per source format (alertmanager, suricata, generic, zeek, splunk, elastic)
// and the HTTP receiver that authenticates a source, decodes its body and hands the
// alerts to the pipeline, answering only once they are durable.
package ingest

import (
	"fmt"
	"sort"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// Item is the outcome of decoding one element of a body: an alert or the reason it was
// rejected. Decoders return items in input order, one per element (an NDJSON line, an
// array element, an Alertmanager alert...).
type Item struct {
	Alert *model.Alert
	Err   error
}

// Options tells a decoder about the source it decodes for.
type Options struct {
	Source string     // the configured source name, copied into each alert
	Rules  *RuleTable // category overrides; nil uses only the format's own fields
	Now    time.Time  // receive time, stamped as ReceivedAt

	// Scratch, when set, lends the decoder memory to reuse; see Scratch for what the
	// caller promises in return. Formats that do not use it allocate as usual.
	Scratch *Scratch
}

// Decoder decodes one format. Decode returns an error only when the body as a whole
// cannot be read (for example a JSON document that does not parse); problems with single
// elements are reported in their Item.
type Decoder interface {
	// ContentTypes lists the media types the format accepts (without parameters).
	ContentTypes() []string
	Decode(body []byte, opts Options) ([]Item, error)
}

var formats = map[string]Decoder{}

// Register adds a format. It panics on a duplicate name: formats register in init.
func Register(name string, d Decoder) {
	if _, dup := formats[name]; dup {
		panic(fmt.Sprintf("ingest: format %q registered twice", name))
	}
	formats[name] = d
}

// Lookup returns the decoder for a format name.
func Lookup(name string) (Decoder, bool) {
	d, ok := formats[name]
	return d, ok
}

// Formats returns the registered format names, sorted.
func Formats() []string {
	out := make([]string, 0, len(formats))
	for n := range formats {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
