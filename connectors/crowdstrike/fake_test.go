package crowdstrike

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestFakeIsStrict(t *testing.T) {
	rec := &connectortest.RecordTB{TB: t}
	fake := connectortest.NewCrowdStrike(rec, connectortest.CrowdStrikeOptions{})
	id := fake.AddDevice("ws-1", "10.0.0.1")
	// A valid token for the requests below.
	resp, err := http.PostForm(fake.URL+"/oauth2/token", map[string][]string{"client_id": {connectortest.FalconClientID}, "client_secret": {connectortest.FalconClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || tok.AccessToken == "" {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name, method, path, ctype, body string
		bearer                          bool
		status                          int
	}{
		{"token by GET", "GET", "/oauth2/token", "", "", false, 405},
		{"token as JSON", "POST", "/oauth2/token", "application/json", `{"client_id":"x"}`, false, 400},
		{"token with extra field", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "client_id=a&client_secret=b&grant_type=client_credentials", false, 400},
		{"unknown path", "GET", "/devices/queries/devices/v2", "", "", true, 404},
		{"no bearer", "GET", "/devices/queries/devices/v1", "", "", false, 401},
		{"bad FQL", "GET", "/devices/queries/devices/v1?filter=hostname%3Aws-1", "", "", true, 400},
		{"unknown query parameter", "GET", "/devices/entities/devices/v2?id=" + id, "", "", true, 400},
		{"action by GET", "GET", "/devices/entities/devices-actions/v2?action_name=contain", "", "", true, 404},
		{"unknown action", "POST", "/devices/entities/devices-actions/v2?action_name=isolate", "application/json", `{"ids":["` + id + `"]}`, true, 400},
		{"action as form", "POST", "/devices/entities/devices-actions/v2?action_name=contain", "application/x-www-form-urlencoded", "ids=" + id, true, 400},
		{"action body shape", "POST", "/devices/entities/devices-actions/v2?action_name=contain", "application/json", `{"device_ids":["` + id + `"]}`, true, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, fake.URL+tc.path, strings.NewReader(tc.body))
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
			var eb struct {
				Meta   map[string]any `json:"meta"`
				Errors []struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"errors"`
			}
			if resp.StatusCode != tc.status || json.Unmarshal(raw, &eb) != nil || len(eb.Errors) != 1 || eb.Errors[0].Code != tc.status || eb.Meta == nil {
				t.Errorf("answer %d %s; want %d in Falcon's error envelope", resp.StatusCode, raw, tc.status)
			}
			if errs := rec.Take(); len(errs) != 1 {
				t.Errorf("the fake recorded %v; want exactly one test failure", errs)
			}
		})
	}
	if fake.Mutations() != 0 || fake.Status(id) != StatusNormal {
		t.Errorf("refused requests changed state: %d mutations, status %s", fake.Mutations(), fake.Status(id))
	}
}

// The commented edr example in config.example.yaml must stay a valid configuration.
func TestConfigExampleBlock(t *testing.T) {
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	var block []string
	for i, l := range lines {
		if strings.TrimSpace(l) != "#   type: crowdstrike" {
			continue
		}
		for _, l := range lines[i+1:] {
			rest, ok := strings.CutPrefix(l, "  #   ")
			if !ok {
				break
			}
			if k, _, found := strings.Cut(rest, "#"); found {
				rest = strings.TrimRight(k, " ")
			}
			block = append(block, rest)
		}
	}
	if len(block) == 0 {
		t.Fatal("config.example.yaml has no commented connector of type crowdstrike")
	}
	env := connectors.Env{LookupEnv: func(k string) (string, bool) { return "x", k == "WARROOM_FALCON_CLIENT_SECRET" }}
	if _, err := connectors.New("crowdstrike", []byte(strings.Join(block, "\n")), env); err != nil {
		t.Fatalf("the example in config.example.yaml does not build: %v\n%s", err, strings.Join(block, "\n"))
	}
}
