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
	rec := &RecordTB{TB: t}
	p := NewPANOS(rec)
	p.AddAddress("vsys1", "ph", "192.0.2.255")
	p.AddAddressGroup("vsys1", "blocked", "ph")
	client := TrustingClient(t, p.CAFile)
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
	NewProbe(t, rec, client, p.URL).Run([]Call{
		{Name: "nothing to commit", Method: "POST", Path: "/api/", Header: auth, Body: commit, Status: 200, Contains: "There are no changes to commit."},
		{Name: "get missing object", Method: "POST", Path: "/api/", Header: auth, Body: cfg("get", obj, ""), Status: 200,
			Contains: `<response status="success" code="7"><result total-count="0" count="0"/>`},
		{Name: "member before object", Method: "POST", Path: "/api/", Header: auth, Body: cfg("set", grp+"/static", "<member>w-1</member>"),
			Status: 200, Contains: "is not a valid reference", Flagged: true},
		{Name: "object with a foreign element", Method: "POST", Path: "/api/", Header: auth, Body: cfg("set", obj, "<ip-netmask>203.0.113.7</ip-netmask><tag><member>x</member></tag>"),
			Status: 200, Contains: `code="12"`, Flagged: true},
		{Name: "set object", Method: "POST", Path: "/api/", Header: auth, Body: cfg("set", obj, "<ip-netmask>203.0.113.7</ip-netmask><description>d</description>"),
			Status: 200, Contains: `status="success"`},
		{Name: "set member", Method: "POST", Path: "/api/", Header: auth, Body: cfg("set", grp+"/static", "<member>w-1</member>"), Status: 200, Contains: `status="success"`},
		{Name: "candidate holds it", Method: "POST", Path: "/api/", Header: auth, Body: cfg("get", grp, ""), Status: 200,
			Contains: `time="2025/01/01 00:00:00">w-1</member></static></entry></result>`},
		{Name: "running does not yet", Method: "POST", Path: "/api/", Header: auth, Body: cfg("show", grp, ""), Status: 200,
			Contains: `<response status="success"><result><entry name="blocked"><static><member>ph</member></static></entry></result></response>`},
		{Name: "show missing", Method: "POST", Path: "/api/", Header: auth, Body: cfg("show", obj, ""), Status: 200, Contains: `status="error" code="7"`},
		{Name: "set a new group", Method: "POST", Path: "/api/", Header: auth, Body: cfg("set", vsys+"/address-group/entry[@name='new']/static", "<member>w-1</member>"),
			Status: 200, Contains: `code="12"`, Flagged: true},
		{Name: "edit", Method: "POST", Path: "/api/", Header: auth, Body: cfg("edit", obj, "<ip-netmask>1.2.3.4</ip-netmask>"), Status: 200,
			Contains: `Illegal value for parameter`, Flagged: true},
		{Name: "rule xpath", Method: "POST", Path: "/api/", Header: auth, Body: cfg("get", vsys+"/rulebase/security", ""), Status: 200, Contains: "Bad Xpath", Flagged: true},
		{Name: "delete the whole group", Method: "POST", Path: "/api/", Header: auth, Body: cfg("delete", grp, ""), Status: 200, Contains: `code="17"`, Flagged: true},
		{Name: "delete referenced object", Method: "POST", Path: "/api/", Header: auth, Body: cfg("delete", obj, ""), Status: 200,
			Contains: "w-1 cannot be deleted because of references from: address-group -&gt; blocked -&gt; static"},
		{Name: "partial commit without the action", Method: "POST", Path: "/api/", Header: auth, Status: 200, Contains: `code="17"`, Flagged: true,
			Body: url.Values{"type": {"commit"}, "cmd": {"<commit><partial><admin><member>x</member></admin></partial></commit>"}}.Encode()},
		{Name: "commit", Method: "POST", Path: "/api/", Header: auth, Body: commit, Status: 200, Contains: "<job>1</job>"},
		{Name: "job running", Method: "POST", Path: "/api/", Header: auth, Body: job("1"), Status: 200, Contains: "<status>ACT</status><queued>NO</queued><stoppable>no</stoppable><result>PEND</result>"},
		{Name: "job done", Method: "POST", Path: "/api/", Header: auth, Body: job("1"), Status: 200, Contains: "<status>FIN</status><queued>NO</queued><stoppable>no</stoppable><result>OK</result>"},
		{Name: "unknown job", Method: "POST", Path: "/api/", Header: auth, Body: job("9"), Status: 200, Contains: `status="error"`, Flagged: true},
		{Name: "delete member", Method: "POST", Path: "/api/", Header: auth, Body: cfg("delete", grp+"/static/member[text()='w-1']", ""), Status: 200, Contains: `status="success"`},
		{Name: "delete member again", Method: "POST", Path: "/api/", Header: auth, Body: cfg("delete", grp+"/static/member[text()='w-1']", ""), Status: 200, Contains: `code="7"`},
		{Name: "delete the placeholder too", Method: "POST", Path: "/api/", Header: auth, Body: cfg("delete", grp+"/static/member[text()='ph']", ""), Status: 200, Contains: `status="success"`},
		{Name: "commit an empty group", Method: "POST", Path: "/api/", Header: auth, Body: commit, Status: 200, Contains: "<job>2</job>"},
		{Name: "validation fails", Method: "POST", Path: "/api/", Header: auth, Body: job("2"), Status: 200, Contains: "<status>ACT</status>"},
		{Name: "validation failed", Method: "POST", Path: "/api/", Header: auth, Body: job("2"), Status: 200,
			Contains: "<result>FAIL</result><tfin>2025/01/01 00:00:09</tfin><description></description><positionInQ>0</positionInQ><progress>100</progress><details><line><![CDATA[ Validation Error: ]]></line><line><![CDATA[ address-group -> blocked -> static is invalid (vsys1) ]]></line>"},
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
