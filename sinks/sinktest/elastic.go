package sinktest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// ElasticAuth is what the fake Elasticsearch accepts: an encoded API key
// ("Authorization: ApiKey <key>") or a user and password (Basic).
type ElasticAuth struct {
	APIKey   string
	Username string
	Password string
}

// Elastic is a strict fake of Elasticsearch's _bulk API for create actions. It accepts
// POST or PUT to /_bulk or /{index}/_bulk with Content-Type application/x-ndjson and a
// body of action/source line pairs ending with a newline, keeps documents by index and
// _id (a second create of an _id answers 409 version_conflict_engine_exception, as
// Elasticsearch does), and answers errors in Elasticsearch's shape
// ({"error":{...},"status":400}).
type Elastic struct {
	*server
	auth ElasticAuth

	// guarded by server.mu
	docs      map[string]map[string]json.RawMessage // index -> _id -> source
	order     []ElasticDoc
	itemFault map[string][]int // _id -> statuses for its next attempts
	attempts  map[string]int   // _id -> create attempts seen
}

// ElasticDoc is one stored document.
type ElasticDoc struct {
	Index  string
	ID     string
	Source json.RawMessage
}

// NewElastic starts a fake cluster accepting auth.
func NewElastic(t testing.TB, auth ElasticAuth) *Elastic {
	e := &Elastic{auth: auth, docs: map[string]map[string]json.RawMessage{}, itemFault: map[string][]int{}, attempts: map[string]int{}}
	e.server = newServer(t)
	e.server.handler = e.handle
	e.server.failure = esFailure
	return e
}

// FailItem makes the next len(statuses) create attempts of document id fail with these
// statuses (429 es_rejected_execution_exception, 400 document_parsing_exception, 5xx
// ...), one per attempt.
func (e *Elastic) FailItem(id string, statuses ...int) {
	e.mu.Lock()
	e.itemFault[id] = append(e.itemFault[id], statuses...)
	e.mu.Unlock()
}

// Docs returns the stored documents in the order they were created.
func (e *Elastic) Docs() []ElasticDoc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.order)
}

// Attempts returns how many create actions named document id.
func (e *Elastic) Attempts(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attempts[id]
}

// Wait blocks until at least n documents are stored or ctx ends.
func (e *Elastic) Wait(ctx context.Context, n int) error {
	return e.waitFor(ctx, func() bool { return len(e.order) >= n })
}

// esError writes Elasticsearch's error shape.
func esError(w http.ResponseWriter, status int, typ, reason string) {
	cause := map[string]string{"type": typ, "reason": reason}
	b, _ := json.Marshal(map[string]any{
		"error":  map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason},
		"status": status,
	})
	w.Header().Set("X-elastic-product", "Elasticsearch")
	writeJSON(w, status, string(b))
}

func esFailure(w http.ResponseWriter, f Fault) {
	switch {
	case f.Status == http.StatusTooManyRequests:
		esError(w, f.Status, "es_rejected_execution_exception", "rejected execution of coordinating operation")
	case f.Status == http.StatusServiceUnavailable:
		esError(w, f.Status, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
	case f.Status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `ApiKey, Basic realm="security" charset="UTF-8"`)
		esError(w, f.Status, "security_exception", "unable to authenticate with provided credentials and anonymous access is not allowed for this request")
	default:
		esError(w, f.Status, "exception", http.StatusText(f.Status))
	}
}

var bulkPathRE = regexp.MustCompile(`^/(?:([^/_][^/]*)/)?_bulk$`)

func (e *Elastic) handle(w http.ResponseWriter, r *http.Request, body []byte) {
	m := bulkPathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		esError(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, r.Method))
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		b, _ := json.Marshal(map[string]any{"error": fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [POST, PUT]", r.URL.Path, r.Method), "status": 405})
		writeJSON(w, http.StatusMethodNotAllowed, string(b))
		return
	}
	if !e.authorized(r) {
		w.Header().Set("WWW-Authenticate", `ApiKey, Basic realm="security" charset="UTF-8"`)
		if r.Header.Get("Authorization") == "" {
			esError(w, http.StatusUnauthorized, "security_exception", fmt.Sprintf("missing authentication credentials for REST request [%s]", r.URL.RequestURI()))
		} else {
			esError(w, http.StatusUnauthorized, "security_exception", "unable to authenticate with provided credentials and anonymous access is not allowed for this request")
		}
		return
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-ndjson" {
		b, _ := json.Marshal(map[string]any{"error": fmt.Sprintf("Content-Type header [%s] is not supported", ct), "status": 406})
		writeJSON(w, http.StatusNotAcceptable, string(b))
		return
	}
	actions, perr := ParseBulkBody(body, m[1])
	if perr != nil {
		esError(w, http.StatusBadRequest, perr.Type, perr.Reason)
		return
	}

	items := make([]map[string]any, len(actions))
	errorsSeen := false
	e.mu.Lock()
	for i, a := range actions {
		e.attempts[a.ID]++
		item := map[string]any{"_index": a.Index, "_id": a.ID}
		status := 0
		if f := e.itemFault[a.ID]; len(f) > 0 {
			status, e.itemFault[a.ID] = f[0], f[1:]
		}
		switch {
		case status != 0:
			typ, reason := itemFailure(status, a)
			item["status"] = status
			item["error"] = map[string]any{"type": typ, "reason": reason, "index": a.Index}
		case a.SourceErr != "":
			item["status"] = 400
			item["error"] = map[string]any{"type": "document_parsing_exception", "reason": a.SourceErr, "index": a.Index}
		case e.docs[a.Index][a.ID] != nil:
			item["status"] = 409
			item["error"] = map[string]any{
				"type":   "version_conflict_engine_exception",
				"reason": fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", a.ID),
				"index":  a.Index, "shard": "0",
			}
		default:
			if e.docs[a.Index] == nil {
				e.docs[a.Index] = map[string]json.RawMessage{}
			}
			e.docs[a.Index][a.ID] = a.Source
			e.order = append(e.order, ElasticDoc{Index: a.Index, ID: a.ID, Source: a.Source})
			item["status"] = 201
			item["result"] = "created"
			item["_version"] = 1
			item["_shards"] = map[string]int{"total": 2, "successful": 1, "failed": 0}
		}
		if item["status"] != 201 {
			errorsSeen = true
		}
		items[i] = map[string]any{"create": item}
	}
	e.signal()
	e.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"took": 3, "errors": errorsSeen, "items": items})
	w.Header().Set("X-elastic-product", "Elasticsearch")
	writeJSON(w, http.StatusOK, string(b))
}

func itemFailure(status int, a BulkAction) (string, string) {
	switch {
	case status == http.StatusTooManyRequests:
		return "es_rejected_execution_exception", "rejected execution of primary operation"
	case status >= 500:
		return "unavailable_shards_exception", fmt.Sprintf("[%s][0] primary shard is not active", a.Index)
	case status == http.StatusBadRequest:
		return "document_parsing_exception", "[1:42] failed to parse field [fields] of type [keyword]"
	case status == http.StatusNotFound:
		return "index_not_found_exception", fmt.Sprintf("no such index [%s]", a.Index)
	case status == http.StatusForbidden:
		return "security_exception", fmt.Sprintf("action [indices:data/write/bulk[s]] is unauthorized on indices [%s]", a.Index)
	}
	return "exception", http.StatusText(status)
}

func (e *Elastic) authorized(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return e.auth == ElasticAuth{}
	}
	switch {
	case e.auth.APIKey != "":
		return h[0] == "ApiKey "+e.auth.APIKey
	case e.auth.Username != "":
		u, p, ok := r.BasicAuth()
		return ok && u == e.auth.Username && p == e.auth.Password && strings.HasPrefix(h[0], "Basic ")
	}
	return false
}

// BulkAction is one create action of a bulk body.
type BulkAction struct {
	Index     string
	ID        string
	Source    json.RawMessage
	SourceErr string // the source line is not a JSON object: a per-item 400
}

// BulkError is a whole-request refusal of a bulk body, in Elasticsearch's terms.
type BulkError struct {
	Type   string
	Reason string
}

func (e *BulkError) Error() string { return e.Type + ": " + e.Reason }

var indexRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)

// ParseBulkBody parses an NDJSON bulk body of create actions strictly: every line is
// JSON, lines come in action/source pairs, the body ends with a newline, each action is
// {"create":{"_index":...,"_id":...}} (the index may come from the path instead) and
// names no other parameter.
func ParseBulkBody(body []byte, pathIndex string) ([]BulkAction, *BulkError) {
	if len(body) == 0 {
		return nil, &BulkError{"parse_exception", "request body is required"}
	}
	if body[len(body)-1] != '\n' {
		return nil, &BulkError{"illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"}
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	var out []BulkAction
	for i := 0; i < len(lines); i += 2 {
		line := i + 1
		var action map[string]json.RawMessage
		if err := json.Unmarshal(lines[i], &action); err != nil || action == nil {
			return nil, &BulkError{"x_content_parse_exception", fmt.Sprintf("[%d:1] Malformed action/metadata line [%d], expected START_OBJECT", line, line)}
		}
		if len(action) != 1 {
			return nil, &BulkError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected a simple value for field [create] but found [%d] actions", line, len(action))}
		}
		meta, ok := action["create"]
		if !ok {
			for k := range action {
				return nil, &BulkError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected field [create] (the only action this fake accepts) but found [%s]", line, k)}
			}
		}
		var md map[string]json.RawMessage
		if err := json.Unmarshal(meta, &md); err != nil || md == nil {
			return nil, &BulkError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT", line)}
		}
		var a BulkAction
		for k, v := range md {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, &BulkError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected a simple value for field [%s]", line, k)}
			}
			switch k {
			case "_index":
				a.Index = s
			case "_id":
				a.ID = s
			default:
				return nil, &BulkError{"illegal_argument_exception", fmt.Sprintf("Action/metadata line [%d] contains an unknown parameter [%s]", line, k)}
			}
		}
		if a.Index == "" {
			a.Index = pathIndex
		}
		switch {
		case a.Index == "":
			return nil, &BulkError{"action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: index is missing for action/metadata line [%d];", line)}
		case !indexRE.MatchString(a.Index) || len(a.Index) > 255:
			return nil, &BulkError{"invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s]", a.Index)}
		case a.ID == "":
			return nil, &BulkError{"illegal_argument_exception", fmt.Sprintf("action/metadata line [%d] has no _id: warroom sends every event with its id, so that a resend is idempotent", line)}
		case len(a.ID) > 512:
			return nil, &BulkError{"action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: id [%s...] is too long, must be no longer than 512 bytes;", a.ID[:20])}
		}
		if i+1 >= len(lines) {
			return nil, &BulkError{"illegal_argument_exception", fmt.Sprintf("The bulk request must be terminated by a newline [\\n]; the action on line [%d] has no source line", line)}
		}
		src := lines[i+1]
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(src, &obj); err != nil || obj == nil {
			a.SourceErr = "failed to parse: the source is not a JSON object"
		}
		a.Source = json.RawMessage(bytes.Clone(src))
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, &BulkError{"action_request_validation_exception", "Validation Failed: 1: no requests added;"}
	}
	return out, nil
}

// BasicAuth returns the Authorization value for user and password, for tests.
func BasicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}
