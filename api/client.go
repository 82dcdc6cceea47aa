package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/warroom/warroom/triage/model"
)

// Client talks to a running warroom over its HTTP API. The CLI and the tests use it.
type Client struct {
	Base        string // e.g. http://127.0.0.1:8080
	APIToken    string
	IngestToken string
	HTTP        *http.Client
}

// StatusError is a non-2xx answer, with the server's error text.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return fmt.Sprintf("server answered %d: %s", e.Code, e.Msg) }

func (c *Client) do(ctx context.Context, method, path, token, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, body)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("is warroom running at %s? %w", c.Base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &StatusError{Code: resp.StatusCode, Msg: e.Error}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Ingest posts a body to a source.
func (c *Client) Ingest(ctx context.Context, source, contentType string, body []byte) (*IngestResponse, error) {
	var r IngestResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/ingest/"+url.PathEscape(source), c.IngestToken, contentType, bytes.NewReader(body), &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Incidents lists one page of incidents. query holds filters (status, severity, kind,
// limit, cursor).
func (c *Client) Incidents(ctx context.Context, query url.Values) (*List[*model.Incident], error) {
	var l List[*model.Incident]
	return &l, c.do(ctx, http.MethodGet, "/api/v1/incidents?"+query.Encode(), c.APIToken, "", nil, &l)
}

// Incident returns one incident with its timeline; ref is an id or INC-0042.
func (c *Client) Incident(ctx context.Context, ref string) (*IncidentDetail, error) {
	d := IncidentDetail{Incident: &model.Incident{}}
	return &d, c.do(ctx, http.MethodGet, "/api/v1/incidents/"+url.PathEscape(ref), c.APIToken, "", nil, &d)
}

// Alert returns one alert.
func (c *Client) Alert(ctx context.Context, id int64) (*AlertView, error) {
	var a AlertView
	return &a, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/alerts/%d", id), c.APIToken, "", nil, &a)
}

// Alerts lists one page of alerts.
func (c *Client) Alerts(ctx context.Context, query url.Values) (*List[AlertView], error) {
	var l List[AlertView]
	return &l, c.do(ctx, http.MethodGet, "/api/v1/alerts?"+query.Encode(), c.APIToken, "", nil, &l)
}

// SetStatus moves an incident.
func (c *Client) SetStatus(ctx context.Context, ref string, req StatusRequest) (*model.Incident, error) {
	b, _ := json.Marshal(req)
	var inc model.Incident
	return &inc, c.do(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(ref)+"/status", c.APIToken, "application/json", bytes.NewReader(b), &inc)
}

// AlertView is an alert as the API renders it, incident_id included.
type AlertView struct {
	model.Alert
	IncidentID *int64 `json:"incident_id"`
}
