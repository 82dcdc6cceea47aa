package meraki

import (
	"testing"

	"github.com/warroom/warroom/connectors/connectortest"
)

// TestFakeIsStrict checks the Meraki fake answers the documented wire format and
// flags everything else with the Dashboard's {"errors": [...]}.
func TestFakeIsStrict(t *testing.T) {
	rec := &connectortest.RecordTB{TB: t}
	f := connectortest.NewMeraki(rec)
	client := connectortest.TrustingClient(t, f.CAFile)
	probe := connectortest.NewProbe(t, rec, client, f.URL)
	do, check := probe.Do, probe.Check
	bearer := map[string]string{"Authorization": "Bearer " + connectortest.MerakiAPIKey}
	js := map[string]string{"Authorization": "Bearer " + connectortest.MerakiAPIKey, "Content-Type": "application/json"}
	o := "/organizations/" + connectortest.MerakiOrgID

	resp, body := do("GET", o+"/policyObjects", "", map[string]string{"Authorization": "Bearer wrong"})
	check("wrong key", resp, body, 401, `{"errors":["Invalid API key"]}`, false)
	resp, body = do("GET", o+"/policyObjects", "", nil)
	check("no key", resp, body, 401, `"errors"`, true)
	resp, body = do("GET", o+"/policyObjects", "", map[string]string{"X-Cisco-Meraki-API-Key": connectortest.MerakiAPIKey})
	check("legacy header", resp, body, 200, "[]", false)
	resp, body = do("GET", "/organizations/1/policyObjects", "", bearer)
	check("other organization", resp, body, 404, "Organization not found", false)
	resp, body = do("GET", o+"/policyObjects?perPage=9000", "", bearer)
	check("perPage too large", resp, body, 400, "perPage", true)
	resp, body = do("POST", o+"/policyObjects", `{"name":"x","category":"network","type":"cidr","cidr":"2001:db8::/64"}`, js)
	check("IPv6 cidr", resp, body, 400, "Invalid cidr", true)
	resp, body = do("POST", o+"/policyObjects", `{"name":"x","category":"network","type":"cidr","cidr":"203.0.113.7/32","ip":"1"}`, js)
	check("unknown field", resp, body, 400, "unknown field", true)
	resp, body = do("POST", o+"/policyObjects", `{"name":"x","category":"network","type":"cidr","cidr":"203.0.113.7/32"}`, bearer)
	check("no JSON content type", resp, body, 400, "Content-Type", true)
	resp, body = do("POST", o+"/policyObjects", `{"name":"x","category":"network","type":"cidr","cidr":"203.0.113.7/32"}`, js)
	check("create", resp, body, 201, `"cidr":"203.0.113.7/32"`, false)
	resp, body = do("PUT", o+"/policyObjects/groups/0", `{"objectIds":[]}`, js)
	check("unknown group", resp, body, 404, `"errors"`, true)
	resp, body = do("PATCH", o+"/policyObjects", `{}`, js)
	check("undocumented method", resp, body, 404, `"errors"`, true)
}
