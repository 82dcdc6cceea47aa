package local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

type reports struct{}

func (reports) DrillReport(ctx context.Context, format string) ([]byte, error) {
	if format == "png" {
		return []byte("\x89PNG fake"), nil
	}
	return []byte("Per scenario\n  ssh-rdp-bruteforce <b>12m00s</b>\n"), nil
}

// TestDrillPage serves the drill report and its chart to signed-in users only, with
// the report's text escaped; without drills the page is 404.
func TestDrillPage(t *testing.T) {
	c, _ := newChat(t, Options{})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	cl := newClient(t, srv)
	if resp, _ := cl.get("/chat/drills"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed out: %d", resp.StatusCode)
	}
	cl.login(url.Values{"user": {"alice"}})
	if resp, _ := cl.get("/chat/drills"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without drills: %d", resp.StatusCode)
	}
	c.SetDrills(reports{})
	resp, page := cl.get("/chat/drills")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "ssh-rdp-bruteforce &lt;b&gt;12m00s&lt;/b&gt;") ||
		!strings.Contains(page, `<img src="/chat/drills/ttr.png"`) || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("drill page %d:\n%s", resp.StatusCode, page)
	}
	resp, body := cl.get("/chat/drills/ttr.png")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG") {
		t.Errorf("chart: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
