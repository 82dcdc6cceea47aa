package local_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
)

const chromium = "/usr/bin/chromium"

// bruteForce returns the dev corpus's SSH brute force (the EVE lines from
// 203.0.113.45), or a small stand-in when the corpus is not there.
func bruteForce(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open("/work/shared/corpus/dev/suricata.ndjson")
	if err != nil {
		var b bytes.Buffer
		for i := range 30 {
			fmt.Fprintf(&b, `{"timestamp":"2026-11-20T09:05:%02d.000000+0000","event_type":"alert","src_ip":"203.0.113.45","src_port":%d,"dest_ip":"172.16.5.%d","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":3,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2},"app_proto":"ssh"}`+"\n",
				i, 40000+i, 10+i%2)
		}
		return b.Bytes()
	}
	defer f.Close()
	var b bytes.Buffer
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"src_ip":"203.0.113.45"`) {
			b.Write(sc.Bytes())
			b.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func artifacts(t *testing.T) string {
	if d := os.Getenv("WARROOM_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowserClickToContain runs warroom with the example configuration and drives
// the web chat in headless Chromium: the brute force's room appears live, alice
// requests the block, bob approves it, the block runs and the EDL lists the address.
func TestBrowserClickToContain(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("headless browser test skipped: %s is missing (apt-get install chromium, or run scripts/test-deps.sh as root)", chromium)
	}
	cfg, err := config.Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "warroom.db")
	cfg.LogLevel = "error"
	cfg.GenerateMissingSecrets = false
	env := map[string]string{"WARROOM_INGEST_TOKEN": "ingest-token-for-the-browser-test", "WARROOM_API_TOKEN": "api-token-for-the-browser-test"}
	a, err := app.New(context.Background(), cfg, app.Options{Clock: clock.Real{}, Getenv: func(k string) string { return env[k] },
		Log: app.NewLogger("error")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, "127.0.0.1:0", func(ad net.Addr) { addrc <- ad }) }()
	var base string
	select {
	case ad := <-addrc:
		base = "http://" + ad.String()
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1600, 1200),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()
	// Accept the confirmation dialogs of containment buttons.
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	dir := artifacts(t)
	shot := func(name string) {
		buf, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Errorf("save screenshot: %v", err)
		}
		t.Logf("screenshot: %s", path)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			shot("failure.png")
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}

	// alice signs in with the user picker; the room list is empty.
	run("sign in as alice",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#pick-alice`)),
		chromedp.Click(chromedp.CSS(`#pick-alice`)),
		chromedp.WaitVisible(chromedp.CSS(`nav#rooms`)),
		chromedp.WaitVisible(`//nav[@id="rooms"]//p[contains(., "No rooms yet")]`),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true, undefined`),
	)

	// The brute force arrives; its room appears in the list without a reload.
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/ingest/suricata", bytes.NewReader(bruteForce(t)))
	req.Header.Set("Authorization", "Bearer "+env["WARROOM_INGEST_TOKEN"])
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", resp.StatusCode, body)
	}
	run("the room appears live",
		chromedp.WaitVisible(chromedp.CSS(`li.room[data-room^="inc-0001-ssh-brute-force-203-0-113-45"] a`)),
	)
	stillThere, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil || !stillThere {
		t.Fatal("the page reloaded to show the new room")
	}
	shot("01-room-list.png")

	// alice opens the room and asks for the block.
	blockButton := `//article[contains(@class,"kind-opening")]//button[starts-with(normalize-space(.), "Block 203.0.113.45/32")]`
	run("open the room",
		chromedp.Click(chromedp.CSS(`li.room[data-room^="inc-0001"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`article.kind-opening`)),
		chromedp.WaitVisible(`//article[contains(@class,"kind-opening")]//p[contains(@class,"label") and contains(., "template")]`),
		chromedp.WaitVisible(blockButton),
	)
	run("alice clicks Block",
		chromedp.Click(blockButton),
		chromedp.WaitVisible(`//article[contains(@class,"kind-opening")]//li[contains(., "requested by local:alice; waiting for a second approver")]`),
		chromedp.WaitVisible(`//article[contains(@class,"kind-reply")]//p[contains(., "waiting for a second approver")]`),
	)
	shot("02-waiting-for-approver.png")

	// alice may not approve her own request.
	approve := `//article[contains(@class,"kind-opening")]//button[starts-with(normalize-space(.), "Approve: Block 203.0.113.45/32")]`
	run("alice cannot approve",
		chromedp.WaitVisible(approve),
		chromedp.Click(approve),
		chromedp.WaitVisible(`//div[@id="toasts"]/div[contains(., "Not allowed")]`),
	)

	// bob signs in and approves; the block runs.
	run("switch to bob",
		chromedp.Click(chromedp.CSS(`#switch-user`)),
		chromedp.WaitVisible(chromedp.CSS(`#pick-bob`)),
		chromedp.Click(chromedp.CSS(`#pick-bob`)),
		chromedp.WaitVisible(`//span[@id="who"][contains(., "Bob")]`),
		chromedp.Click(chromedp.CSS(`li.room[data-room^="inc-0001"] a`)),
		chromedp.WaitVisible(approve),
	)
	run("bob approves",
		chromedp.Click(approve),
		chromedp.WaitVisible(`//article[contains(@class,"kind-announcement")]//p[contains(., "Block 203.0.113.45/32 (24h) succeeded")]`),
		chromedp.WaitVisible(`//article[contains(@class,"kind-opening")]//li[contains(., "Block 203.0.113.45/32 (24h) via edl — succeeded, verified")]`),
		// The verified block marks the incident contained; the room list follows.
		chromedp.WaitVisible(chromedp.CSS(`li.room[data-room^="inc-0001-ssh-brute-force-203-0-113-45"] .badge.st-contained`)),
	)
	// The README shows the end of the room: the actions, the outcome, the replies.
	run("scroll to the outcome", chromedp.Evaluate[chromedp.Void](`document.querySelector("#main").scrollTop = 1e6, undefined`))
	shot("03-contained.png")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		b, err := os.ReadFile(filepath.Join(dir, "03-contained.png"))
		if err == nil {
			err = os.WriteFile("../../docs/img/webchat.png", b, 0o644)
		}
		if err != nil {
			t.Errorf("update docs/img/webchat.png: %v", err)
		}
	}

	// The dark theme follows the system setting.
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatalf("emulate the dark theme: %v", err)
	}
	bg, err := chromedp.Run(bctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if err != nil || bg != "rgb(15, 18, 22)" {
		t.Errorf("dark theme background %q, %v", bg, err)
	}
	shot("04-dark.png")

	// A reply with a picture of the web chat's own (the drill chart at the end of a
	// drill) shows it, loaded under the page's Content-Security-Policy.
	if err := a.Bot.PostReplyImage(context.Background(), 1, "The drill report and its charts: /chat/drills",
		&bot.Image{Path: "/chat/drills/ttr.png", Alt: "Time to resolve per drill run"}); err != nil {
		t.Fatal(err)
	}
	run("the chart in the room",
		chromedp.WaitVisible(chromedp.CSS(`article.kind-reply figure.picture img[src="/chat/drills/ttr.png"]`)),
		chromedp.Poll[chromedp.Void](`(() => { const i = document.querySelector('figure.picture img'); return i.complete && i.naturalWidth >= 600; })()`),
	)

	// The firewall's feed lists the address.
	resp, err = http.Get(base + "/edl/warroom-block.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "203.0.113.45") {
		t.Fatalf("EDL: %d %q; want 203.0.113.45 listed", resp.StatusCode, body)
	}
}
