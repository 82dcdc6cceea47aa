package panos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
	"github.com/warroom/warroom/internal/clock"
)

const (
	testGroup   = "warroom-blocked"
	placeholder = "placeholder-192.0.2.255"
)

// groupFake returns a fake holding the static group testGroup with one
// placeholder member, in both the candidate and the running configuration.
func groupFake(t *testing.T) *connectortest.PANOS {
	fake := connectortest.NewPANOS(t)
	fake.AddAddress("vsys1", placeholder, "192.0.2.255")
	fake.AddAddressGroup("vsys1", testGroup, placeholder)
	return fake
}

// buildGroup returns an address_group-mode connector talking to fake, whose pauses
// between commit-job polls move the env's fake clock instead of sleeping.
func buildGroup(t *testing.T, env connectors.Env, fake *connectortest.PANOS, extra string) *Firewall {
	t.Helper()
	c := build(t, env, fake, "mode: address_group\naddress_group: "+testGroup+"\n"+extra)
	f := c.(*Firewall)
	f.wait = func(ctx context.Context, d time.Duration) error {
		if fc, ok := f.clock.(*clock.Fake); ok {
			fc.Advance(d)
		}
		return ctx.Err()
	}
	return f
}

func TestConformanceAddressGroup(t *testing.T) {
	var fakes []*connectortest.PANOS
	connectortest.RunVendorConformance(t, func(t *testing.T, env connectors.Env) connectortest.VendorSubject {
		fake := groupFake(t)
		fakes = append(fakes, fake)
		return connectortest.VendorSubject{
			Subject:   connectortest.Subject{Connector: buildGroup(t, env, fake, ""), Secrets: []string{fake.Password}},
			Faults:    fake,
			Mutations: fake.Mutations,
		}
	})
	if len(fakes) != 3 {
		t.Fatalf("the suite built %d connectors, want 3 (life cycle, dry run, faults)", len(fakes))
	}
	for i, fake := range fakes {
		if got := fake.GroupMembers("vsys1", testGroup, true); !slices.Equal(got, []string{placeholder}) {
			t.Errorf("fake %d: running members after the suite %v; want only the placeholder", i, got)
		}
		if fake.Mutations() > 0 && len(fake.Commits()) == 0 { // the dry run's fake has neither
			t.Errorf("fake %d: changed, but no commit", i)
		}
	}
}

func TestAddressGroupBlockCommitsAndVerifiesRunning(t *testing.T) {
	fake := groupFake(t)
	env, logs, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.7", time.Hour)
	res, err := c.Execute(ctx, r)
	if err != nil || !res.Changed {
		t.Fatalf("Execute: %+v %v", res, err)
	}
	if want := "created address object warroom-203.0.113.7 (203.0.113.7); added it to address group warroom-blocked in vsys1; committed (job 1)"; res.Detail != want {
		t.Errorf("Detail %q\nwant   %q", res.Detail, want)
	}
	if v, ok := fake.Address("vsys1", "warroom-203.0.113.7", true); !ok || v != "203.0.113.7" {
		t.Errorf("running object %q %v", v, ok)
	}
	if got := fake.GroupMembers("vsys1", testGroup, true); !slices.Equal(got, []string{placeholder, "warroom-203.0.113.7"}) {
		t.Errorf("running members %v", got)
	}
	cm := fake.Commits()
	if len(cm) != 1 || !cm[0].Partial || !slices.Equal(cm[0].Admins, []string{fake.User}) || cm[0].Job != 1 {
		t.Errorf("commits %+v; want one partial commit for %s (the keygen user)", cm, fake.User)
	}
	if fake.JobReads() != 2 {
		t.Errorf("%d job reads; want 2 (ACT, then FIN)", fake.JobReads())
	}
	v, err := c.Verify(ctx, r)
	if err != nil || !v.InPlace || !v.Observed || !strings.Contains(v.Detail, "in the running configuration") {
		t.Errorf("Verify %+v %v", v, err)
	}
	if !strings.Contains(logs.String(), "panos: address group changed") {
		t.Errorf("no log line for the change:\n%s", logs)
	}
	// The same address again: already a member of the running group, nothing sent.
	n, commits := fake.Mutations(), len(fake.Commits())
	res, err = c.Execute(ctx, r)
	if err != nil || res.Changed || fake.Mutations() != n || len(fake.Commits()) != commits {
		t.Errorf("repeat: %+v %v; %d mutations, %d commits; want an unchanged success with no call", res, err, fake.Mutations()-n, len(fake.Commits())-commits)
	}
}

func TestAddressGroupFamilies(t *testing.T) {
	fake := groupFake(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "object_prefix: wr_\n")
	ctx := context.Background()
	for _, tc := range []struct{ target, name, value string }{
		{"2001:db8::7", "wr_2001-db8--7", "2001:db8::7"},
		{"198.51.100.0/24", "wr_198.51.100.0_24", "198.51.100.0/24"},
		{"2001:db8:1::/48", "wr_2001-db8-1--_48", "2001:db8:1::/48"}, // IPv6 networks work as objects
	} {
		r := req(connectors.BlockIP, tc.target, time.Hour)
		if res, err := c.Execute(ctx, r); err != nil || !res.Changed {
			t.Fatalf("%s: %+v %v", tc.target, res, err)
		}
		if v, ok := fake.Address("vsys1", tc.name, true); !ok || v != tc.value {
			t.Errorf("%s: object %s = %q %v", tc.target, tc.name, v, ok)
		}
		if v, err := c.Verify(ctx, r); err != nil || !v.InPlace {
			t.Errorf("%s: Verify %+v %v", tc.target, v, err)
		}
	}
}

func TestAddressGroupFailedCommitIsPermanent(t *testing.T) {
	fake := groupFake(t)
	fake.FailCommits("rulebase -> security -> rules -> block-warroom is invalid")
	env, logs, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.8", time.Hour)
	_, err := c.Execute(ctx, r)
	want := "panos fw1: the candidate configuration holds the change (created address object warroom-203.0.113.8 (203.0.113.8); " +
		"added it to address group warroom-blocked in vsys1) but it is not active: commit job 1 failed: Validation Error: " +
		"rulebase -> security -> rules -> block-warroom is invalid; fix the configuration on the firewall (the change waits in the candidate configuration)"
	if err == nil || connectors.Retryable(err) || err.Error() != want {
		t.Fatalf("err = %v\nwant permanent %s", err, want)
	}
	if v, err := c.Verify(ctx, r); err != nil || v.InPlace {
		t.Errorf("Verify after the failed commit: %+v %v; the running configuration must not hold it", v, err)
	}
	connectortest.AssertNoSecret(t, append(fake.Keys(), fake.Password), err.Error(), logs.String())
	// Once the firewall accepts commits, a retry commits the waiting change without
	// setting anything again.
	fake.FailCommits("")
	n := fake.Mutations()
	res, err := c.Execute(ctx, r)
	if err != nil || !res.Changed {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if fake.Mutations() != n+1 {
		t.Errorf("retry made %d state-changing calls; want only the commit", fake.Mutations()-n)
	}
	if v, err := c.Verify(ctx, r); err != nil || !v.InPlace {
		t.Errorf("Verify after the retry: %+v %v", v, err)
	}
}

func TestAddressGroupCommitTimeoutIsRetryable(t *testing.T) {
	fake := groupFake(t)
	fake.SetCommitPolls(-1)
	env, _, clk := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "commit_timeout: 30s\n")
	start := clk.Now()
	_, err := c.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.9", time.Hour))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), "commit job 1 is still ACT after 30s (commit_timeout); it may yet finish") {
		t.Fatalf("err = %v; want a retryable timeout", err)
	}
	if got := clk.Now().Sub(start); got != 30*time.Second {
		t.Errorf("the clock moved %s while waiting; want 30s", got)
	}
	if n := fake.JobReads(); n != 16 {
		t.Errorf("%d job reads in 30s at one per %s; want 16", n, commitPoll)
	}
}

// TestAddressGroupUnblockRetryAfterTimeout: an unblock whose commit timed out is
// retried; the candidate is already clean, so the retry only commits.
func TestAddressGroupUnblockRetryAfterTimeout(t *testing.T) {
	fake := groupFake(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "commit_timeout: 10s\n")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.18", time.Hour)
	if _, err := c.Execute(ctx, r); err != nil {
		t.Fatal(err)
	}
	fake.SetCommitPolls(-1)
	if _, err := c.Revert(ctx, r); err == nil || !connectors.Retryable(err) {
		t.Fatalf("Revert with a commit that never ends: %v; want a retryable error", err)
	}
	if v, err := c.Verify(ctx, r); err != nil || !v.InPlace {
		t.Errorf("Verify while the commit hangs: %+v %v; the running configuration still blocks", v, err)
	}
	fake.SetCommitPolls(1)
	n := fake.Mutations()
	res, err := c.Revert(ctx, r)
	if err != nil || !res.Changed || res.Detail != "the candidate configuration already held the change; committed (job 3)" {
		t.Fatalf("retried Revert: %+v %v", res, err)
	}
	if fake.Mutations() != n+1 {
		t.Errorf("the retry made %d state-changing calls; want only the commit", fake.Mutations()-n)
	}
	if v, err := c.Verify(ctx, r); err != nil || v.InPlace {
		t.Errorf("Verify after the retried Revert: %+v %v", v, err)
	}
}

func TestAddressGroupCommitCanceled(t *testing.T) {
	fake := groupFake(t)
	fake.SetCommitPolls(-1)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	ctx, cancel := context.WithCancel(context.Background())
	c.wait = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
	_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.10", time.Hour))
	if err == nil || !connectors.Retryable(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want a retryable cancellation", err)
	}
}

func TestAddressGroupUnblock(t *testing.T) {
	fake := groupFake(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.11", time.Hour)
	if _, err := c.Execute(ctx, r); err != nil {
		t.Fatal(err)
	}
	res, err := c.Revert(ctx, r)
	want := "removed warroom-203.0.113.11 (203.0.113.11/32) from address group warroom-blocked in vsys1; deleted address object warroom-203.0.113.11; committed (job 2)"
	if err != nil || !res.Changed || res.Detail != want {
		t.Fatalf("Revert %+v %v\nwant %s", res, err, want)
	}
	if _, ok := fake.Address("vsys1", "warroom-203.0.113.11", true); ok {
		t.Error("the object is still in the running configuration")
	}
	if res, err := c.Revert(ctx, r); err != nil || res.Changed {
		t.Errorf("repeated Revert %+v %v", res, err)
	}
	// unblock_ip is the inverse: Execute removes, Revert adds back.
	u := req(connectors.UnblockIP, "203.0.113.11", time.Hour)
	if res, err := c.Revert(ctx, u); err != nil || !res.Changed {
		t.Fatalf("Revert of an unblock: %+v %v", res, err)
	}
	if v, err := c.Verify(ctx, r); err != nil || !v.InPlace {
		t.Errorf("Verify after reverting the unblock %+v %v", v, err)
	}
}

func TestAddressGroupObjectStillReferencedIsKept(t *testing.T) {
	fake := groupFake(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.12", time.Hour)
	if _, err := c.Execute(ctx, r); err != nil {
		t.Fatal(err)
	}
	fake.AddAddressGroup("vsys1", "soc-watch", "warroom-203.0.113.12")
	res, err := c.Revert(ctx, r)
	if err != nil || !res.Changed || !strings.Contains(res.Detail, "kept address object warroom-203.0.113.12: it is still used elsewhere") {
		t.Fatalf("Revert %+v %v", res, err)
	}
	if got := fake.GroupMembers("vsys1", testGroup, true); !slices.Equal(got, []string{placeholder}) {
		t.Errorf("running members %v", got)
	}
	n, commits := fake.Mutations(), len(fake.Commits())
	res, err = c.Revert(ctx, r)
	if err != nil || res.Changed || fake.Mutations() != n || len(fake.Commits()) != commits {
		t.Errorf("repeated Revert with the object kept: %+v %v; want an unchanged success without a commit", res, err)
	}
}

func TestAddressGroupRefusesToEmptyTheGroup(t *testing.T) {
	fake := connectortest.NewPANOS(t)
	fake.AddAddress("vsys1", "warroom-203.0.113.13", "203.0.113.13")
	fake.AddAddressGroup("vsys1", testGroup, "warroom-203.0.113.13")
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	_, err := c.Revert(context.Background(), req(connectors.BlockIP, "203.0.113.13", time.Hour))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "would leave address group warroom-blocked empty") {
		t.Fatalf("err = %v", err)
	}
	if fake.Mutations() != 0 {
		t.Error("the refused revert changed something")
	}
}

func TestAddressGroupSetupErrors(t *testing.T) {
	ctx := context.Background()
	r := req(connectors.BlockIP, "203.0.113.14", time.Hour)
	t.Run("missing group", func(t *testing.T) {
		fake := connectortest.NewPANOS(t)
		env, _, _ := connectortest.NewEnv("fw1")
		c := buildGroup(t, env, fake, "")
		_, err := c.Execute(ctx, r)
		want := "panos fw1: address group warroom-blocked does not exist in vsys1; create it as a static group (with a placeholder member) and use it in a deny rule"
		if err == nil || connectors.Retryable(err) || err.Error() != want {
			t.Errorf("Execute: %v", err)
		}
		if rd := c.Ready(ctx); rd.Authenticated != connectors.Passed || rd.Permitted != connectors.Failed || rd.Message != want {
			t.Errorf("Ready %+v", rd)
		}
		if fake.Mutations() != 0 {
			t.Error("a missing group was created or changed")
		}
	})
	t.Run("dynamic group", func(t *testing.T) {
		fake := connectortest.NewPANOS(t)
		fake.AddDynamicGroup("vsys1", testGroup, "'warroom-block'")
		env, _, _ := connectortest.NewEnv("fw1")
		c := buildGroup(t, env, fake, "")
		if _, err := c.Execute(ctx, r); err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "is not a static group") {
			t.Errorf("Execute: %v", err)
		}
	})
	t.Run("object with another value", func(t *testing.T) {
		fake := groupFake(t)
		fake.AddAddress("vsys1", "warroom-203.0.113.14", "10.0.0.1")
		env, _, _ := connectortest.NewEnv("fw1")
		c := buildGroup(t, env, fake, "")
		_, err := c.Execute(ctx, r)
		if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "exists in vsys1 with ip-netmask 10.0.0.1, not 203.0.113.14; rename or delete it") {
			t.Errorf("Execute: %v", err)
		}
	})
	t.Run("existing object reused", func(t *testing.T) {
		fake := groupFake(t)
		fake.AddAddress("vsys1", "warroom-203.0.113.14", "203.0.113.14/32")
		env, _, _ := connectortest.NewEnv("fw1")
		c := buildGroup(t, env, fake, "")
		res, err := c.Execute(ctx, r)
		if err != nil || !res.Changed || strings.Contains(res.Detail, "created") {
			t.Errorf("Execute: %+v %v; want the object reused", res, err)
		}
	})
}

func TestAddressGroupReady(t *testing.T) {
	fake := groupFake(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	rd := c.Ready(context.Background())
	want := fmt.Sprintf("%s/api/ answers; static address group warroom-blocked in vsys1 has 1 member(s); commit permission is checked when an action runs", fake.URL)
	if !rd.OK() || rd.Message != want {
		t.Errorf("Ready %+v\nwant %s", rd, want)
	}
}

func TestAddressGroupCommitScope(t *testing.T) {
	ctx := context.Background()
	t.Run("full commit with a ready key", func(t *testing.T) {
		fake := groupFake(t)
		staticKey = fake.IssueKey()
		t.Cleanup(func() { staticKey = "" })
		env, logs, _ := connectortest.NewEnv("fw1")
		c := buildGroup(t, env, fake, "api_key_env: PANOS_KEY\n")
		if _, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.15", time.Hour)); err != nil {
			t.Fatal(err)
		}
		if cm := fake.Commits(); len(cm) != 1 || cm[0].Partial {
			t.Errorf("commits %+v; want one full commit", cm)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "every commit is a full commit") {
			t.Errorf("a full commit was not warned about:\n%s", logs)
		}
	})
	t.Run("admin that made no change", func(t *testing.T) {
		fake := groupFake(t)
		env, _, _ := connectortest.NewEnv("fw1")
		c := buildGroup(t, env, fake, "commit_admin: someone-else\n")
		_, err := c.Execute(ctx, req(connectors.BlockIP, "203.0.113.16", time.Hour))
		if err == nil || connectors.Retryable(err) ||
			!strings.Contains(err.Error(), "the partial commit for admin someone-else started no job: There are no changes to commit.; check that commit_admin names the administrator the API key belongs to") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestAddressGroupPreviewAndDryRun(t *testing.T) {
	fake := groupFake(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	d, err := c.Preview(context.Background(), req(connectors.BlockIP, "203.0.113.17", 24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := "create address object warroom-203.0.113.17 (203.0.113.17) in vsys1 unless it exists\n" +
		"add warroom-203.0.113.17 to address group warroom-blocked\n" +
		fmt.Sprintf("commit (partial commit for admin %s) and wait up to 5m (%s/api/)", fake.User, fake.URL)
	if d.String() != want {
		t.Errorf("Preview\n%s\nwant\n%s", d, want)
	}
	dry := buildGroup(t, env, fake, "dry_run: true\n")
	res, err := dry.Execute(context.Background(), req(connectors.BlockIP, "203.0.113.17", time.Hour))
	if err != nil || !res.DryRun || fake.Mutations() != 0 || len(fake.Keys()) != 0 {
		t.Errorf("dry run: %+v %v; %d mutations", res, err, fake.Mutations())
	}
}

// TestAddressGroupConcurrentBlocks: blocks running at once are serialised, so each
// address ends up in the group and every commit succeeds.
func TestAddressGroupConcurrentBlocks(t *testing.T) {
	fake := groupFake(t)
	env, _, _ := connectortest.NewEnv("fw1")
	c := buildGroup(t, env, fake, "")
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := c.Execute(context.Background(), req(connectors.BlockIP, fmt.Sprintf("203.0.113.%d", 40+i), time.Hour))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := fake.GroupMembers("vsys1", testGroup, true); len(got) != 5 {
		t.Errorf("running members %v; want the placeholder and four addresses", got)
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, name := range []string{"get-group", "show-missing", "get-missing"} {
		b, err := os.ReadFile(filepath.Join("testdata", "answers", name+".xml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEntry(b, testGroup)
		if err != nil && e != nil {
			t.Fatalf("an entry and an error: %+v %v", e, err)
		}
		if e != nil && e.Name != testGroup {
			t.Fatalf("entry %q returned for %q", e.Name, testGroup)
		}
		_ = e.members()
	})
}

func FuzzParseJob(f *testing.F) {
	for _, name := range []string{"job-act", "job-fail"} {
		b, err := os.ReadFile(filepath.Join("testdata", "answers", name+".xml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := parseJob(b, "4")
		if err == nil && strings.TrimSpace(j.ID) != "4" {
			t.Fatalf("job %q returned for 4", j.ID)
		}
		_ = innerText(j.Details.XML)
	})
}

func TestParseAnswers(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "answers", name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	e, err := parseEntry(read("get-group"), testGroup)
	if err != nil || e == nil || !slices.Equal(e.members(), []string{placeholder, "warroom-203.0.113.7"}) {
		t.Errorf("get-group: %+v %v", e, err)
	}
	if e, err := parseEntry(read("get-missing"), testGroup); err != nil || e != nil {
		t.Errorf("get-missing: %+v %v", e, err)
	}
	if _, err := parseEntry(read("show-missing"), testGroup); err == nil {
		t.Error("show-missing (status error) parsed as an answer")
	}
	j, err := parseJob(read("job-fail"), "4")
	if err != nil || j.Status != "FIN" || j.Result != "FAIL" || innerText(j.Details.XML) != "Validation Error: address -> a1 is invalid" {
		t.Errorf("job-fail: %+v %v (%q)", j, err, innerText(j.Details.XML))
	}
	if j, err := parseJob(read("job-act"), "4"); err != nil || j.Status != "ACT" || j.Result != "PEND" {
		t.Errorf("job-act: %+v %v", j, err)
	}
	if _, err := parseJob(read("job-act"), "5"); err == nil {
		t.Error("job 5 found in an answer about job 4")
	}
}
