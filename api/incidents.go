package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// List is the shape of every listing: a page of items and the cursor of the next page
// (empty on the last).
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// IncidentDetail is an incident with its timeline.
type IncidentDetail struct {
	*model.Incident
	Timeline []model.TimelineEvent `json:"timeline"`
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.IncidentFilter{Cursor: q.Get("cursor"), Kind: model.Kind(q.Get("kind"))}
	var err error
	if f.Limit, err = limitParam(q.Get("limit"), 500); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if v := q.Get("status"); v != "" {
		if f.Status, err = model.ParseStatus(v); err != nil {
			writeError(w, http.StatusBadRequest, "status: "+err.Error())
			return
		}
	}
	if v := q.Get("severity"); v != "" {
		if f.Severity, err = model.ParseSeverity(v); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if f.Kind != "" && f.Kind != model.KindNormal && f.Kind != model.KindDrill {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("kind %q: want normal or drill", f.Kind))
		return
	}
	items, next, err := s.opts.Store.Incidents(r.Context(), f)
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	if items == nil {
		items = []*model.Incident{}
	}
	writeJSON(w, http.StatusOK, List[*model.Incident]{items, next})
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	id, err := model.ParseIncidentRef(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inc, err := s.opts.Store.Incident(r.Context(), id)
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	tl, err := s.opts.Store.Timeline(r.Context(), id)
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	if tl == nil {
		tl = []model.TimelineEvent{}
	}
	writeJSON(w, http.StatusOK, IncidentDetail{inc, tl})
}

// StatusRequest is the body of POST /api/v1/incidents/{id}/status.
type StatusRequest struct {
	Action string `json:"action"` // acknowledge, contain, resolve, false_positive
	Actor  string `json:"actor"`  // optional: the person the token acts for
	Note   string `json:"note"`
}

var statusActions = map[string]model.Status{
	"acknowledge":    model.StatusAcknowledged,
	"contain":        model.StatusContained,
	"resolve":        model.StatusResolved,
	"false_positive": model.StatusFalsePositive,
}

func (s *Server) setStatus(w http.ResponseWriter, r *http.Request) {
	id, err := model.ParseIncidentRef(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var req StatusRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body: want {"action": "acknowledge|contain|resolve|false_positive", "note": "..."}: `+err.Error())
		return
	}
	to, ok := statusActions[req.Action]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("action %q: want acknowledge, contain, resolve or false_positive", req.Action))
		return
	}
	if len(req.Note) > 4096 || len(req.Actor) > 128 {
		writeError(w, http.StatusBadRequest, "note is limited to 4096 bytes and actor to 128")
		return
	}
	who, _ := IdentityFrom(r.Context())
	actor := who.Name
	if a := strings.TrimSpace(req.Actor); a != "" && a != who.Name {
		actor = a + " via " + who.Name
	}
	inc, err := s.opts.Pipeline.SetStatus(r.Context(), id, to, actor, req.Note)
	var te *triage.TransitionError
	switch {
	case errors.As(err, &te):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		s.readFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AlertFilter{Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = limitParam(q.Get("limit"), 1000); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if v := q.Get("incident"); v != "" {
		if f.IncidentID, err = model.ParseIncidentRef(v); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	items, next, err := s.opts.Store.Alerts(r.Context(), f)
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	if items == nil {
		items = []*model.Alert{}
	}
	writeJSON(w, http.StatusOK, List[*model.Alert]{items, next})
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("alert id %q: want a positive integer", r.PathValue("id")))
		return
	}
	a, err := s.opts.Store.Alert(r.Context(), id)
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func limitParam(v string, max int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("limit %q: want a number from 1 to %d", v, max)
	}
	return n, nil
}

func (s *Server) readFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if errors.Is(err, store.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.opts.Log.Error("request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error; see the server log")
}
