package crowdstrike_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
)

// The EDR connectors are registered in the application: a configuration naming them
// builds them, their readiness is what `warroom check` prints, and the built-in
// playbooks' edr connector isolates a host through them.
func TestConfiguredThroughTheApplication(t *testing.T) {
	falcon := connectortest.NewCrowdStrike(t, connectortest.CrowdStrikeOptions{})
	id := falcon.AddDevice("ws-lateral", "10.5.5.5")
	mde := connectortest.NewDefender(t, connectortest.DefenderOptions{})
	mde.AddMachine("ws-lateral.corp.example", "10.5.5.6")
	t.Setenv("E2E_FALCON_SECRET", connectortest.FalconClientSecret)
	t.Setenv("E2E_MDE_SECRET", connectortest.DefenderClientSecret)
	cfg, err := config.Parse(fmt.Appendf(nil, `sources:
  - {name: s, format: generic, token_env: T}
connectors:
  - name: edr
    type: crowdstrike
    base_url: %s
    client_id: %s
    client_secret_env: E2E_FALCON_SECRET
  - name: mde
    type: defender
    tenant_id: %s
    client_id: %s
    client_secret_env: E2E_MDE_SECRET
    api_url: %s
    login_url: %s
    isolation_type: Selective
`, falcon.URL, connectortest.FalconClientID, connectortest.DefenderTenantID, connectortest.DefenderClientID, mde.URL, mde.LoginURL))
	if err != nil {
		t.Fatal(err)
	}
	conns, closeAll, err := app.Connectors(cfg, clock.Real{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"edr", "mde"} {
		c := conns[name]
		if c == nil {
			t.Fatalf("connector %s not built", name)
		}
		if rd := c.Ready(ctx); !rd.OK() || rd.Reachable != connectors.Passed || rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Passed {
			t.Errorf("%s readiness = %+v", name, rd)
		}
		if !connectors.Supports(c, connectors.IsolateHost) || !connectors.Supports(c, connectors.ReleaseHost) {
			t.Errorf("%s capabilities %v", name, c.Capabilities())
		}
	}
	req := connectors.Request{ActionID: "a1", IdempotencyKey: "k1", Kind: connectors.IsolateHost, Target: connectors.HostTarget("ws-lateral"), TTL: 24 * time.Hour}
	if res, err := conns["edr"].Execute(ctx, req); err != nil || !res.Changed {
		t.Fatalf("edr Execute: %+v, %v", res, err)
	}
	if falcon.Status(id) != "containment_pending" {
		t.Errorf("device status %s", falcon.Status(id))
	}
	if res, err := conns["mde"].Execute(ctx, req); err != nil || !res.Changed {
		t.Fatalf("mde Execute: %+v, %v", res, err)
	}
	if got := mde.Actions(); len(got) != 1 || got[0][len(got[0])-9:] != "Selective" {
		t.Errorf("Defender actions %v", got)
	}
}
