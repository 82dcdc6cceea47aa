package defender

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/warroom/warroom/connectors/connectortest"
)

func TestFakeIsStrict(t *testing.T) {
	rec := &connectortest.RecordTB{TB: t}
	fake := connectortest.NewDefender(rec, connectortest.DefenderOptions{})
	id := fake.AddMachine("ws-1.corp.example", "10.0.0.1")
	tokenPath := "/" + connectortest.DefenderTenantID + "/oauth2/v2.0/token"
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {connectortest.DefenderClientID},
		"client_secret": {connectortest.DefenderClientSecret}, "scope": {DefaultScope}}
	resp, err := http.PostForm(fake.LoginURL+tokenPath, good)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	if roles, ok := TokenRoles(tok.AccessToken); !ok || strings.Join(roles, ",") != "Machine.Isolate,Machine.Read.All" {
		t.Errorf("token roles %v %v", roles, ok)
	}
	form := func(change func(url.Values)) string {
		v := url.Values{}
		for k, x := range good {
			v[k] = x
		}
		change(v)
		return v.Encode()
	}
	const fcT = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, server, method, path, ctype, body string
		bearer                                  bool
		status                                  int
		aad                                     bool // Entra ID's error shape, else Defender's
	}{
		{"token v1 path", "login", "POST", "/" + connectortest.DefenderTenantID + "/oauth2/token", fcT, form(func(url.Values) {}), false, 404, true},
		{"token by GET", "login", "GET", tokenPath, "", "", false, 405, true},
		{"token as JSON", "login", "POST", tokenPath, "application/json", `{}`, false, 400, true},
		{"token wrong grant", "login", "POST", tokenPath, fcT, form(func(v url.Values) { v.Set("grant_type", "password") }), false, 400, true},
		{"token wrong scope", "login", "POST", tokenPath, fcT, form(func(v url.Values) { v.Set("scope", "https://graph.microsoft.com/.default") }), false, 400, true},
		{"unknown path", "api", "GET", "/api/devices", "", "", true, 404, false},
		{"no bearer", "api", "GET", "/api/machines", "", "", false, 401, false},
		{"unsupported filter", "api", "GET", "/api/machines?$filter=" + url.PathEscape("osPlatform eq 'Windows11'"), "", "", true, 400, false},
		{"plus for spaces", "api", "GET", "/api/machines?%24filter=computerDnsName+eq+%27ws-1%27", "", "", true, 400, false},
		{"unknown OData option", "api", "GET", "/api/machines?$orderby=lastSeen", "", "", true, 400, false},
		{"actions without machine filter", "api", "GET", "/api/machineactions", "", "", true, 400, false},
		{"isolate without comment", "api", "POST", "/api/machines/" + id + "/isolate", "application/json", `{"IsolationType":"Full"}`, true, 400, false},
		{"isolate bad type", "api", "POST", "/api/machines/" + id + "/isolate", "application/json", `{"Comment":"c","IsolationType":"full"}`, true, 400, false},
		{"unisolate with type", "api", "POST", "/api/machines/" + id + "/unisolate", "application/json", `{"Comment":"c","IsolationType":"Full"}`, true, 400, false},
		{"isolate as form", "api", "POST", "/api/machines/" + id + "/isolate", fcT, "Comment=c", true, 400, false},
		{"isolate by PUT", "api", "PUT", "/api/machines/" + id + "/isolate", "application/json", `{"Comment":"c"}`, true, 404, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := fake.URL
			if tc.server == "login" {
				base = fake.LoginURL
			}
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.bearer {
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var shape map[string]any
			_ = json.Unmarshal(raw, &shape)
			ok := false
			if tc.aad {
				_, ok = shape["error_description"].(string)
			} else {
				e, _ := shape["error"].(map[string]any)
				_, ok = e["code"].(string)
			}
			if resp.StatusCode != tc.status || !ok {
				t.Errorf("answer %d %s; want %d in the vendor's error shape", resp.StatusCode, raw, tc.status)
			}
			if errs := rec.Take(); len(errs) == 0 {
				t.Error("the fake did not fail the test for this request")
			}
		})
	}
	if fake.Mutations() != 0 {
		t.Errorf("refused requests changed state: %d mutations", fake.Mutations())
	}
}
