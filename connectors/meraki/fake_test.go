package meraki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors/connectortest"
)

// recordTB records the Errorf calls the strict fake makes, so a test can check the
// fake flags a malformed request instead of failing itself.
type recordTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordTB) Errorf(format string, a ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

func (r *recordTB) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.errs
	r.errs = nil
	return e
}

func trustingClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the fake's CA file")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestFakeIsStrict checks the Meraki fake answers the documented wire format and
// flags everything else with the Dashboard's {"errors": [...]}.
func TestFakeIsStrict(t *testing.T) {
	rec := &recordTB{TB: t}
	f := connectortest.NewMeraki(rec)
	client := trustingClient(t, f.CAFile)
	do := func(method, path, body string, h map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL+path, strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, string(raw)
	}
	check := func(name string, resp *http.Response, body string, status int, contains string, flagged bool) {
		t.Helper()
		if resp.StatusCode != status || !strings.Contains(body, contains) {
			t.Errorf("%s: %d %s; want %d with %q", name, resp.StatusCode, body, status, contains)
		}
		if errs := rec.take(); (len(errs) > 0) != flagged {
			t.Errorf("%s: fake reported %q; want flagged=%v", name, errs, flagged)
		}
	}
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
