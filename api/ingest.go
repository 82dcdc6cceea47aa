package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/warroom/warroom/ingest"
)

// IngestResponse is the body of a 202 from POST /api/v1/ingest/{source}.
type IngestResponse struct {
	Accepted   int        `json:"accepted"`
	AlertIDs   []int64    `json:"alert_ids"`
	Rejected   []Rejected `json:"rejected"`
	Duplicates int        `json:"duplicates"`
	// Skipped counts elements that are valid but carry no alert (for example Suricata
	// flow or stats events).
	Skipped int `json:"skipped"`
}

// Rejected names one element of the body that was not accepted, and why.
type Rejected struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

var (
	bodyPool    = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	scratchPool = sync.Pool{New: func() any { return new(ingest.Scratch) }}
)

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	start := s.opts.Clock.Now()
	src, ok := s.sources[r.PathValue("source")]
	if !ok {
		writeError(w, http.StatusNotFound, "unknown source; the path must name a source from the configuration's sources list")
		return
	}
	tok, ok := bearer(r)
	if !ok {
		unauthorized(w)
		return
	}
	if sum := sha256.Sum256([]byte(tok)); subtle.ConstantTimeCompare(sum[:], src.hash[:]) != 1 {
		unauthorized(w)
		return
	}
	if !src.accepts(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("source %q (format %s) takes Content-Type %s",
			src.Name, src.Format, strings.Join(src.typeList(), " or ")))
		return
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		s.tooLarge(w)
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			bodyPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.tooLarge(w)
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	// The scratch and the body go back to their pools only when this handler returns,
	// after the alerts were stored and the answer written: nothing decoded from them
	// is used after that (see ingest.Scratch).
	scr := scratchPool.Get().(*ingest.Scratch)
	defer scratchPool.Put(scr) // bounded: a Scratch keeps at most ingest.MaxScratchAlerts alerts' memory
	items, err := src.Decoder.Decode(buf.Bytes(), ingest.Options{Source: src.Name, Rules: s.opts.Rules, Now: start, Scratch: scr})
	if err != nil {
		s.opts.Metrics.Rejected.WithLabelValues(src.Name).Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp := IngestResponse{Rejected: []Rejected{}}
	alerts := scr.Alerts(len(items))
	for i, it := range items {
		switch {
		case errors.Is(it.Err, ingest.ErrSkipped):
			resp.Skipped++
		case it.Err != nil:
			resp.Rejected = append(resp.Rejected, Rejected{Index: i, Error: it.Err.Error()})
		case it.Alert != nil:
			// Drill alerts enter through the drill runner, never from outside: an
			// outside sender could otherwise hide a real alert as a drill.
			it.Alert.DrillID = ""
			alerts = append(alerts, it.Alert)
		}
	}
	if n := len(resp.Rejected); n > 0 {
		s.opts.Metrics.Rejected.WithLabelValues(src.Name).Add(float64(n))
	}
	if len(alerts) == 0 && len(resp.Rejected) > 0 {
		writeJSON(w, http.StatusBadRequest, struct {
			Error string `json:"error"`
			IngestResponse
		}{"no valid alert in the body; see rejected for each element's problem", resp})
		return
	}
	if len(alerts) > 0 {
		res, err := s.opts.Pipeline.Ingest(r.Context(), alerts)
		if err != nil {
			s.opts.Log.Error("ingest failed", "source", src.Name, "alerts", len(alerts), "err", err)
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "alerts not stored, send them again: "+err.Error())
			return
		}
		resp.AlertIDs = res.IDs
		resp.Duplicates = res.Duplicates
		resp.Accepted = len(res.IDs)
		s.opts.Metrics.Accepted.WithLabelValues(src.Name).Add(float64(len(res.IDs) - res.Duplicates))
		if res.Duplicates > 0 {
			s.opts.Metrics.Duplicates.WithLabelValues(src.Name).Add(float64(res.Duplicates))
		}
	}
	if resp.AlertIDs == nil {
		resp.AlertIDs = []int64{}
	}
	writeIngestResponse(w, &resp)
	s.opts.Metrics.IngestLatency.WithLabelValues(src.Name).Observe(s.opts.Clock.Now().Sub(start).Seconds())
}

var answerPool = sync.Pool{New: func() any { return new([]byte) }}

// writeIngestResponse answers 202 with resp. Without rejected elements (the usual
// answer) it appends the JSON itself, byte for byte what encoding/json writes, which
// takes a fraction of the time reflection does; otherwise it leaves it to writeJSON.
func writeIngestResponse(w http.ResponseWriter, resp *IngestResponse) {
	if len(resp.Rejected) > 0 {
		writeJSON(w, http.StatusAccepted, resp)
		return
	}
	bp := answerPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"accepted":`...)
	b = strconv.AppendInt(b, int64(resp.Accepted), 10)
	b = append(b, `,"alert_ids":[`...)
	for i, id := range resp.AlertIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	b = append(b, `],"rejected":[],"duplicates":`...)
	b = strconv.AppendInt(b, int64(resp.Duplicates), 10)
	b = append(b, `,"skipped":`...)
	b = strconv.AppendInt(b, int64(resp.Skipped), 10)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	w.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		answerPool.Put(bp)
	}
}

func (s *Server) tooLarge(w http.ResponseWriter) {
	writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes; split it into smaller requests", s.opts.MaxBodyBytes))
}

func (s *source) accepts(ct string) bool {
	if ct == "" {
		return false
	}
	if s.types[ct] { // the usual header, without parameters: no parsing
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && s.types[mt]
}

func (s *source) typeList() []string {
	out := make([]string, 0, len(s.types))
	for t := range s.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
