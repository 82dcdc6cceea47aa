package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Actions is what the API needs from the actions engine (*actions.Engine).
type Actions interface {
	List(ctx context.Context, incidentID int64) ([]*model.Action, error)
	Get(ctx context.Context, id int64) (*model.Action, error)
	Preview(ctx context.Context, id int64) (connectors.Diff, error)
	Propose(ctx context.Context, incidentID int64, req actions.ProposeRequest, by actions.Actor) (*model.Action, error)
	Approve(ctx context.Context, id int64, by actions.Actor) (*model.Action, error)
	Reject(ctx context.Context, id int64, by actions.Actor, reason string) (*model.Action, error)
	Execute(ctx context.Context, id int64, by actions.Actor) (*model.Action, error)
	Revert(ctx context.Context, id int64, by actions.Actor) (*model.Action, error)
}

var _ Actions = (*actions.Engine)(nil)

// ProposeRequest is the body of POST /api/v1/incidents/{id}/actions.
type ProposeRequest struct {
	Kind      string `json:"kind"`                // block_ip, unblock_ip, isolate_host, release_host, webhook
	Target    string `json:"target"`              // 203.0.113.7, 2001:db8::/64, a host name
	Connector string `json:"connector,omitempty"` // default: edl when it can, else the first that can
	TTL       string `json:"ttl,omitempty"`       // a duration like 24h; default 24h for containments
	Note      string `json:"note,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
}

// RejectRequest is the optional body of POST /api/v1/actions/{id}/reject.
type RejectRequest struct {
	Reason string `json:"reason"`
}

// PreviewResponse is the answer of GET /api/v1/actions/{id}/preview.
type PreviewResponse struct {
	ActionID int64    `json:"action_id"`
	Diff     string   `json:"diff"`
	Changes  []string `json:"changes"`
}

// ActionError is the body of an error answer about an action: the message, and for
// refusals the rule that refused, for failures the action as recorded.
type ActionError struct {
	Error      string        `json:"error"`
	Rule       string        `json:"rule,omitempty"`
	RetryAfter int           `json:"retry_after_seconds,omitempty"`
	Action     *model.Action `json:"action,omitempty"`
}

// actionRoutes registers the actions API. Every call reaches the engine with the
// caller's identity and role (the viewer role lets a token in); the engine applies
// the policy and records refusals, so they are audited like everything else.
func (s *Server) actionRoutes() {
	s.mux.Handle("GET /api/v1/incidents/{id}/actions", s.auth(config.RoleViewer, s.listActions))
	s.mux.Handle("POST /api/v1/incidents/{id}/actions", s.auth(config.RoleResponder, s.proposeAction))
	s.mux.Handle("GET /api/v1/actions/{id}", s.auth(config.RoleViewer, s.getAction))
	s.mux.Handle("GET /api/v1/actions/{id}/preview", s.auth(config.RoleViewer, s.previewAction))
	for _, op := range []string{"approve", "reject", "execute", "revert"} {
		s.mux.Handle("POST /api/v1/actions/{id}/"+op, s.auth(config.RoleViewer, s.actionOp(op)))
	}
}

func actorOf(r *http.Request) actions.Actor {
	id, _ := IdentityFrom(r.Context())
	return actions.Actor{Name: id.Name, Role: string(id.Role)}
}

func (s *Server) actionsEngine(w http.ResponseWriter) (Actions, bool) {
	if s.opts.Actions == nil {
		writeError(w, http.StatusServiceUnavailable, "actions are not configured on this server")
		return nil, false
	}
	return s.opts.Actions, true
}

func actionID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("action id %q: want a positive integer", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	eng, ok := s.actionsEngine(w)
	if !ok {
		return
	}
	id, err := model.ParseIncidentRef(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := eng.List(r.Context(), id)
	if err != nil {
		s.actionFailed(w, r, err)
		return
	}
	if list == nil {
		list = []*model.Action{}
	}
	writeJSON(w, http.StatusOK, List[*model.Action]{Items: list})
}

func (s *Server) proposeAction(w http.ResponseWriter, r *http.Request) {
	eng, ok := s.actionsEngine(w)
	if !ok {
		return
	}
	id, err := model.ParseIncidentRef(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var body ProposeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, `body: want {"kind": "block_ip", "target": "203.0.113.7", "connector": "edl", "ttl": "24h", "note": "..."}: `+err.Error())
		return
	}
	if len(body.Note) > 4096 {
		writeError(w, http.StatusBadRequest, "note is limited to 4096 bytes")
		return
	}
	req := actions.ProposeRequest{Kind: body.Kind, Target: body.Target, Connector: body.Connector, Note: body.Note, DryRun: body.DryRun}
	if body.TTL != "" {
		if req.TTL, err = time.ParseDuration(body.TTL); err != nil || req.TTL <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("ttl %q: want a positive duration like 30m or 24h", body.TTL))
			return
		}
	}
	a, err := eng.Propose(r.Context(), id, req, actorOf(r))
	if err != nil {
		s.actionFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) getAction(w http.ResponseWriter, r *http.Request) {
	eng, ok := s.actionsEngine(w)
	if !ok {
		return
	}
	id, ok := actionID(w, r)
	if !ok {
		return
	}
	a, err := eng.Get(r.Context(), id)
	if err != nil {
		s.actionFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) previewAction(w http.ResponseWriter, r *http.Request) {
	eng, ok := s.actionsEngine(w)
	if !ok {
		return
	}
	id, ok := actionID(w, r)
	if !ok {
		return
	}
	d, err := eng.Preview(r.Context(), id)
	if err != nil {
		s.actionFailed(w, r, err)
		return
	}
	changes := d.Changes
	if changes == nil {
		changes = []string{}
	}
	writeJSON(w, http.StatusOK, PreviewResponse{ActionID: id, Diff: d.String(), Changes: changes})
}

func (s *Server) actionOp(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		eng, ok := s.actionsEngine(w)
		if !ok {
			return
		}
		id, ok := actionID(w, r)
		if !ok {
			return
		}
		by := actorOf(r)
		var (
			a   *model.Action
			err error
		)
		switch op {
		case "approve":
			a, err = eng.Approve(r.Context(), id, by)
		case "reject":
			var body RejectRequest
			if r.ContentLength != 0 {
				dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&body); err != nil {
					writeError(w, http.StatusBadRequest, `body: want {"reason": "..."} or nothing: `+err.Error())
					return
				}
			}
			a, err = eng.Reject(r.Context(), id, by, body.Reason)
		case "execute":
			a, err = eng.Execute(r.Context(), id, by)
		case "revert":
			a, err = eng.Revert(r.Context(), id, by)
		}
		if err != nil {
			s.actionFailed(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, a)
	}
}

// actionFailed answers an engine error: 403 for a refusal by a rule about people
// (role, two-person), 422 for a guardrail, 409 for a wrong state, 404 for an unknown
// incident or action, 400 for a malformed request, 502 when the connector failed.
func (s *Server) actionFailed(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ref    *actions.Refusal
		failed *actions.Failed
	)
	switch {
	case errors.As(err, &ref):
		code := http.StatusForbidden
		body := ActionError{Error: ref.Error(), Rule: ref.Rule}
		if ref.Guardrail() {
			code = http.StatusUnprocessableEntity
		}
		if ref.RetryAfter > 0 {
			secs := int(math.Ceil(ref.RetryAfter.Seconds()))
			body.RetryAfter = secs
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		writeJSON(w, code, body)
	case errors.As(err, &failed):
		writeJSON(w, http.StatusBadGateway, ActionError{Error: failed.Error(), Action: failed.Action})
	case errors.Is(err, actions.ErrState):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, actions.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, strings.TrimPrefix(err.Error(), "plan: "))
	default:
		s.opts.Log.Error("action request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
	}
}
