package connectortest

import (
	"net/url"
	"slices"
	"testing"
)

// TestPANOSFakeConfigIsStrict checks the configuration part of the PAN-OS fake:
// candidate versus running configuration, commit jobs, and refusal of requests the
// connector must never send.
func TestPANOSFakeConfigIsStrict(t *testing.T) {
	rec := &fwRecordTB{TB: t}
	p := NewPANOS(rec)
	p.AddAddress("vsys1", "ph", "192.0.2.255")
	p.AddAddressGroup("vsys1", "blocked", "ph")
	client := fwTrustingClient(t, p.CAFile)
	auth := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-PAN-KEY": p.IssueKey()}
	vsys := "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
	obj := vsys + "/address/entry[@name='w-1']"
	grp := vsys + "/address-group/entry[@name='blocked']"
	cfg := func(action, xpath, element string) string {
		v := url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}}
		if element != "" {
			v.Set("element", element)
		}
		return v.Encode()
	}
	commit := url.Values{"type": {"commit"}, "action": {"partial"}, "cmd": {"<commit><partial><admin><member>" + p.User + "</member></admin></partial></commit>"}}.Encode()
	job := func(id string) string {
		return url.Values{"type": {"op"}, "cmd": {"<show><jobs><id>" + id + "</id></jobs></show>"}}.Encode()
	}
	runFwCalls(t, rec, client, p.URL, []fwCall{
		{name: "nothing to commit", method: "POST", path: "/api/", header: auth, body: commit, status: 200, contains: "There are no changes to commit."},
		{name: "get missing object", method: "POST", path: "/api/", header: auth, body: cfg("get", obj, ""), status: 200,
			contains: `<response status="success" code="7"><result total-count="0" count="0"/>`},
		{name: "member before object", method: "POST", path: "/api/", header: auth, body: cfg("set", grp+"/static", "<member>w-1</member>"),
			status: 200, contains: "is not a valid reference", flagged: true},
		{name: "object with a foreign element", method: "POST", path: "/api/", header: auth, body: cfg("set", obj, "<ip-netmask>203.0.113.7</ip-netmask><tag><member>x</member></tag>"),
			status: 200, contains: `code="12"`, flagged: true},
		{name: "set object", method: "POST", path: "/api/", header: auth, body: cfg("set", obj, "<ip-netmask>203.0.113.7</ip-netmask><description>d</description>"),
			status: 200, contains: `status="success"`},
		{name: "set member", method: "POST", path: "/api/", header: auth, body: cfg("set", grp+"/static", "<member>w-1</member>"), status: 200, contains: `status="success"`},
		{name: "candidate holds it", method: "POST", path: "/api/", header: auth, body: cfg("get", grp, ""), status: 200,
			contains: `time="2025/01/01 00:00:00">w-1</member></static></entry></result>`},
		{name: "running does not yet", method: "POST", path: "/api/", header: auth, body: cfg("show", grp, ""), status: 200,
			contains: `<response status="success"><result><entry name="blocked"><static><member>ph</member></static></entry></result></response>`},
		{name: "show missing", method: "POST", path: "/api/", header: auth, body: cfg("show", obj, ""), status: 200, contains: `status="error" code="7"`},
		{name: "set a new group", method: "POST", path: "/api/", header: auth, body: cfg("set", vsys+"/address-group/entry[@name='new']/static", "<member>w-1</member>"),
			status: 200, contains: `code="12"`, flagged: true},
		{name: "edit", method: "POST", path: "/api/", header: auth, body: cfg("edit", obj, "<ip-netmask>1.2.3.4</ip-netmask>"), status: 200,
			contains: `Illegal value for parameter`, flagged: true},
		{name: "rule xpath", method: "POST", path: "/api/", header: auth, body: cfg("get", vsys+"/rulebase/security", ""), status: 200, contains: "Bad Xpath", flagged: true},
		{name: "delete the whole group", method: "POST", path: "/api/", header: auth, body: cfg("delete", grp, ""), status: 200, contains: `code="17"`, flagged: true},
		{name: "delete referenced object", method: "POST", path: "/api/", header: auth, body: cfg("delete", obj, ""), status: 200,
			contains: "w-1 cannot be deleted because of references from: address-group -&gt; blocked -&gt; static"},
		{name: "partial commit without the action", method: "POST", path: "/api/", header: auth, status: 200, contains: `code="17"`, flagged: true,
			body: url.Values{"type": {"commit"}, "cmd": {"<commit><partial><admin><member>x</member></admin></partial></commit>"}}.Encode()},
		{name: "commit", method: "POST", path: "/api/", header: auth, body: commit, status: 200, contains: "<job>1</job>"},
		{name: "job running", method: "POST", path: "/api/", header: auth, body: job("1"), status: 200, contains: "<status>ACT</status><queued>NO</queued><stoppable>no</stoppable><result>PEND</result>"},
		{name: "job done", method: "POST", path: "/api/", header: auth, body: job("1"), status: 200, contains: "<status>FIN</status><queued>NO</queued><stoppable>no</stoppable><result>OK</result>"},
		{name: "unknown job", method: "POST", path: "/api/", header: auth, body: job("9"), status: 200, contains: `status="error"`, flagged: true},
		{name: "delete member", method: "POST", path: "/api/", header: auth, body: cfg("delete", grp+"/static/member[text()='w-1']", ""), status: 200, contains: `status="success"`},
		{name: "delete member again", method: "POST", path: "/api/", header: auth, body: cfg("delete", grp+"/static/member[text()='w-1']", ""), status: 200, contains: `code="7"`},
		{name: "delete the placeholder too", method: "POST", path: "/api/", header: auth, body: cfg("delete", grp+"/static/member[text()='ph']", ""), status: 200, contains: `status="success"`},
		{name: "commit an empty group", method: "POST", path: "/api/", header: auth, body: commit, status: 200, contains: "<job>2</job>"},
		{name: "validation fails", method: "POST", path: "/api/", header: auth, body: job("2"), status: 200, contains: "<status>ACT</status>"},
		{name: "validation failed", method: "POST", path: "/api/", header: auth, body: job("2"), status: 200,
			contains: "<result>FAIL</result><tfin>2025/01/01 00:00:09</tfin><description></description><positionInQ>0</positionInQ><progress>100</progress><details><line><![CDATA[ Validation Error: ]]></line><line><![CDATA[ address-group -> blocked -> static is invalid (vsys1) ]]></line>"},
	})
	if got := p.GroupMembers("vsys1", "blocked", true); !slices.Equal(got, []string{"ph", "w-1"}) {
		t.Errorf("running members %v; want the first commit applied and the failed one not", got)
	}
	if got := p.GroupMembers("vsys1", "blocked", false); len(got) != 0 {
		t.Errorf("candidate members %v; want none", got)
	}
	if c := p.Commits(); len(c) != 3 || c[0].Job != 0 || c[1].Job != 1 || c[2].Job != 2 {
		t.Errorf("commits %+v", c)
	}
}
