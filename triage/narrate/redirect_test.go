package narrate_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/narrate"
)

// TestClientFollowsNoRedirect checks a redirect from the model's endpoint to another
// host cannot carry the API key there: Azure's api-key header is not one Go drops
// on a cross-host redirect, so the client follows none.
func TestClientFollowsNoRedirect(t *testing.T) {
	const key = "azure-key-0123456789abcdef"
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed to another host: %s %s, api-key %q, Authorization %q",
			r.Method, r.URL, r.Header.Get("api-key"), r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNotFound)
	}))
	defer other.Close()
	_, port, _ := net.SplitHostPort(other.Listener.Addr().String())
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api-key") != key {
			t.Errorf("request without the api-key header: %s", r.URL)
		}
		http.Redirect(w, r, "http://localhost:"+port+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	c, err := narrate.NewClient(narrate.ClientOptions{BaseURL: api.URL, Azure: true, APIVersion: "2024-10-21", APIKey: key,
		Model: "gpt-4o-mini", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Complete(context.Background(), narrate.Prompt{System: "s", User: "u"})
	if err == nil {
		t.Fatal("a redirected request succeeded")
	}
	if strings.Contains(err.Error(), key) {
		t.Errorf("the error holds the key: %v", err)
	}
}
