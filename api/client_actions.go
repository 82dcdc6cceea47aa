package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/warroom/warroom/triage/model"
)

// Actions lists an incident's actions; ref is an id or INC-0042.
func (c *Client) Actions(ctx context.Context, ref string) ([]*model.Action, error) {
	var l List[*model.Action]
	if err := c.do(ctx, http.MethodGet, "/api/v1/incidents/"+url.PathEscape(ref)+"/actions", c.APIToken, "", nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Action returns one action.
func (c *Client) Action(ctx context.Context, id int64) (*model.Action, error) {
	var a model.Action
	return &a, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/actions/%d", id), c.APIToken, "", nil, &a)
}

// PreviewAction returns what executing the action would change.
func (c *Client) PreviewAction(ctx context.Context, id int64) (*PreviewResponse, error) {
	var p PreviewResponse
	return &p, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/actions/%d/preview", id), c.APIToken, "", nil, &p)
}

// ProposeAction proposes an ad-hoc action on an incident.
func (c *Client) ProposeAction(ctx context.Context, ref string, req ProposeRequest) (*model.Action, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var a model.Action
	return &a, c.do(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(ref)+"/actions", c.APIToken, "application/json", bytes.NewReader(b), &a)
}

// ApproveAction approves an action as the token's identity.
func (c *Client) ApproveAction(ctx context.Context, id int64) (*model.Action, error) {
	return c.actionOp(ctx, id, "approve", nil)
}

// RejectAction rejects an action, with an optional reason.
func (c *Client) RejectAction(ctx context.Context, id int64, reason string) (*model.Action, error) {
	b, err := json.Marshal(RejectRequest{Reason: reason})
	if err != nil {
		return nil, err
	}
	return c.actionOp(ctx, id, "reject", b)
}

// ExecuteAction runs an approved action, or retries a failed one.
func (c *Client) ExecuteAction(ctx context.Context, id int64) (*model.Action, error) {
	return c.actionOp(ctx, id, "execute", nil)
}

// RevertAction rolls a succeeded action back.
func (c *Client) RevertAction(ctx context.Context, id int64) (*model.Action, error) {
	return c.actionOp(ctx, id, "revert", nil)
}

func (c *Client) actionOp(ctx context.Context, id int64, op string, body []byte) (*model.Action, error) {
	var a model.Action
	ctype := ""
	var rd *bytes.Reader
	if body != nil {
		ctype, rd = "application/json", bytes.NewReader(body)
	} else {
		rd = bytes.NewReader(nil)
	}
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/actions/%d/%s", id, op), c.APIToken, ctype, rd, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
