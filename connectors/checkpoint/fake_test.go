package checkpoint

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/warroom/warroom/connectors/connectortest"
)

// TestFakeIsStrict checks the Check Point fake answers the documented wire format
// and flags everything else with Check Point's own {code, message}.
func TestFakeIsStrict(t *testing.T) {
	rec := &connectortest.RecordTB{TB: t}
	f := connectortest.NewCheckPoint(rec)
	client := connectortest.TrustingClient(t, f.CAFile)
	post := func(method, cmd, sid, ctype, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL+"/web_api/"+cmd, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if sid != "" {
			req.Header.Set("X-chkp-sid", sid)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	const js = "application/json"
	check := func(name string, status int, m map[string]any, wantStatus int, wantCode string, flagged bool) {
		t.Helper()
		if status != wantStatus || (wantCode != "" && m["code"] != wantCode) {
			t.Errorf("%s: %d %v; want %d %s", name, status, m, wantStatus, wantCode)
		}
		if errs := rec.Take(); (len(errs) > 0) != flagged {
			t.Errorf("%s: fake reported %q; want flagged=%v", name, errs, flagged)
		}
	}
	st, m := post("POST", "login", "", js, `{"user":"`+connectortest.CheckPointUser+`","password":"wrong"}`)
	check("wrong password", st, m, 400, "err_login_failed", false)
	st, m = post("POST", "login", "", js, `{"user":"`+connectortest.CheckPointUser+`","password":"`+connectortest.CheckPointPassword+`"}`)
	check("login", st, m, 200, "", false)
	sid, _ := m["sid"].(string)
	if sid == "" {
		t.Fatalf("no sid: %v", m)
	}
	st, m = post("GET", "show-group", sid, js, `{"name":"warroom-block"}`)
	check("GET", st, m, 405, "generic_err_invalid_syntax", true)
	st, m = post("POST", "show-group", sid, "text/plain", `{"name":"warroom-block"}`)
	check("no JSON content type", st, m, 400, "generic_err_invalid_syntax", true)
	st, m = post("POST", "show-group", "", js, `{"name":"warroom-block"}`)
	check("no session id", st, m, 401, "generic_err_missing_session_id", true)
	st, m = post("POST", "show-group", "0badc0de", js, `{"name":"warroom-block"}`)
	check("wrong session id", st, m, 401, "generic_err_wrong_session_id", false)
	st, m = post("POST", "add-host", sid, js, `{"name":"h1","ipv4":"203.0.113.7"}`)
	check("unknown field", st, m, 400, "generic_err_invalid_parameter_name", true)
	st, m = post("POST", "add-host", sid, js, `{"name":"h1","ip-address":"203.0.113.700"}`)
	check("bad address", st, m, 400, "generic_err_invalid_parameter", true)
	st, m = post("POST", "show-group", sid, js, `{"name":"no-such-group"}`)
	check("unknown group", st, m, 404, "generic_err_object_not_found", false)
	st, m = post("POST", "drop-table", sid, js, `{}`)
	check("unknown command", st, m, 404, "generic_err_command_not_found", true)

	st, m = post("POST", "add-host", sid, js, `{"name":"h1","ip-address":"203.0.113.7"}`)
	check("add-host", st, m, 200, "", false)
	st, m = post("POST", "set-group", sid, js, `{"name":"warroom-block","members":{"add":{"name":"h1"}}}`)
	check("members as an object", st, m, 400, "generic_err_invalid_parameter", true)
	st, m = post("POST", "set-group", sid, js, `{"name":"warroom-block","members":{"add":["h1"]}}`)
	check("set-group", st, m, 200, "", false)
	// Another session does not see unpublished changes.
	_, m2 := post("POST", "login", "", js, `{"api-key":"`+connectortest.CheckPointAPIKey+`"}`)
	rec.Take()
	other, _ := m2["sid"].(string)
	if _, g := post("POST", "show-group", other, js, `{"name":"warroom-block"}`); len(g["members"].([]any)) != 0 {
		t.Errorf("another session sees unpublished members: %v", g)
	}
	st, m = post("POST", "publish", sid, js, `{}`)
	check("publish", st, m, 200, "", false)
	if _, g := post("POST", "show-group", other, js, `{"name":"warroom-block"}`); len(g["members"].([]any)) != 1 {
		t.Errorf("published member not visible: %v", g)
	}
	st, m = post("POST", "set-group", sid, js, `{"name":"warroom-block","members":{"add":["h1"]}}`)
	check("adding a member twice", st, m, 200, "", true)
	st, m = post("POST", "delete-host", sid, js, `{"name":"h1"}`)
	check("deleting a host in use", st, m, 400, "err_validation_failed", true)
	st, m = post("POST", "logout", sid, js, `{}`)
	check("logout", st, m, 200, "", false)
	st, m = post("POST", "show-group", sid, js, `{"name":"warroom-block"}`)
	check("after logout", st, m, 401, "generic_err_wrong_session_id", false)
}
