package ciscofmc

import (
	"net/http"
	"strings"
	"testing"

	"github.com/warroom/warroom/connectors/connectortest"
)

// TestFakeIsStrict checks the FMC fake answers the documented wire format and flags
// everything else with FMC's own error shape.
func TestFakeIsStrict(t *testing.T) {
	rec := &connectortest.RecordTB{TB: t}
	f := connectortest.NewCiscoFMC(rec)
	client := connectortest.TrustingClient(t, f.CAFile)
	probe := connectortest.NewProbe(t, rec, client, f.URL)
	do, check := probe.Do, probe.Check
	tokenPath := "/api/fmc_platform/v1/auth/generatetoken"
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(connectortest.FMCUser, connectortest.FMCPassword)
	basic := map[string]string{"Authorization": req.Header.Get("Authorization")}
	req.SetBasicAuth(connectortest.FMCUser, "wrong")
	wrong := map[string]string{"Authorization": req.Header.Get("Authorization")}

	resp, body := do("POST", tokenPath, "", wrong)
	check("wrong password", resp, body, 401, `{"error":{"category":"FRAMEWORK","messages":[{"description":"Unauthorized"}],"severity":"ERROR"}}`, false)
	resp, body = do("POST", tokenPath, "", nil)
	check("no basic auth", resp, body, 401, `"messages"`, true)
	resp, body = do("GET", tokenPath, "", basic)
	check("GET token", resp, body, 400, `"messages"`, true)
	resp, body = do("POST", tokenPath, "", basic)
	check("token", resp, body, 204, "", false)
	access := resp.Header.Get("X-auth-access-token")
	if access == "" || resp.Header.Get("X-auth-refresh-token") == "" || resp.Header.Get("DOMAIN_UUID") != connectortest.FMCDomainUUID ||
		!strings.Contains(resp.Header.Get("DOMAINS"), `"name":"Global/Europe"`) {
		t.Fatalf("token headers %v", resp.Header)
	}
	tok := map[string]string{"X-auth-access-token": access}
	js := map[string]string{"X-auth-access-token": access, "Content-Type": "application/json"}
	d := "/api/fmc_config/v1/domain/" + connectortest.FMCDomainUUID + "/"

	resp, body = do("GET", d+"object/networkgroups", "", nil)
	check("no token", resp, body, 401, "Access token invalid.", false)
	resp, body = do("GET", d+"object/networkgroups", "", map[string]string{"Authorization": basic["Authorization"], "X-auth-access-token": access})
	check("basic auth on an API call", resp, body, 400, `"messages"`, true)
	resp, body = do("GET", "/api/fmc_config/v1/domain/00000000-0000-0000-0000-000000000000/object/networkgroups", "", tok)
	check("unknown domain", resp, body, 404, "not found", true)
	resp, body = do("GET", d+"object/networkgroups?limit=5000", "", tok)
	check("limit above 1000", resp, body, 400, "Invalid limit", true)
	resp, body = do("GET", d+"object/hosts?filter=name:x", "", tok)
	check("undocumented filter", resp, body, 400, "nameOrValue", true)
	resp, body = do("POST", d+"object/hosts", `{"name":"h1","type":"Host","value":"203.0.113.7"}`, tok)
	check("POST without JSON content type", resp, body, 415, `"messages"`, true)
	resp, body = do("POST", d+"object/hosts", `{"name":"h1","type":"Network","value":"203.0.113.7"}`, js)
	check("wrong type", resp, body, 400, "Invalid type", true)
	resp, body = do("POST", d+"object/hosts", `{"name":"h1","type":"Host","value":"203.0.113.7","ip":"x"}`, js)
	check("unknown field", resp, body, 400, "unknown field", true)
	resp, body = do("POST", d+"object/hosts", `{"name":"h1","type":"Host","value":"203.0.113.7"}`, js)
	check("create host", resp, body, 201, `"type":"Host"`, false)
	resp, body = do("GET", d+"object/hosts?filter=nameOrValue:203.0.113.7&expanded=true", "", tok)
	check("find by value", resp, body, 200, `"name":"h1"`, false)
	resp, body = do("GET", d+"object/networkgroups?limit=1000&offset=0", "", tok)
	check("list groups", resp, body, 200, `"name":"warroom-block"`, false)
	resp, body = do("PUT", d+"object/networkgroups/nope", `{}`, js)
	check("PUT unknown group", resp, body, 404, `"messages"`, true)
	resp, body = do("DELETE", d+"deployment/deploymentrequests", "", tok)
	check("undocumented call", resp, body, 404, `"messages"`, true)
	resp, body = do("POST", d+"deployment/deploymentrequests", `{"type":"DeploymentRequest","version":"1","deviceList":[]}`, js)
	check("deployment without devices", resp, body, 400, "deviceList", true)
	resp, body = do("GET", d+"job/taskstatuses/no-such-task", "", tok)
	check("unknown task", resp, body, 404, "Task no-such-task not found", true)
	resp, body = do("GET", d+"job/taskstatuses/x?expanded=true", "", tok)
	check("task read with a query", resp, body, 400, "Unsupported query parameter", true)
	resp, body = do("POST", "/api/fmc_platform/v1/auth/refreshtoken", "", map[string]string{"X-auth-access-token": access})
	check("refresh without the refresh token", resp, body, 400, `"messages"`, true)
}
