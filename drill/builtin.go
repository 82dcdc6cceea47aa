package drill

import (
	"fmt"
	"strings"
	"time"
)

// eve is a Suricata EVE alert line with placeholders for addresses and time.
func eve(src, dst string, sport, dport int, proto string, sid int, sig, class string, sev int, app string) string {
	appField := ""
	if app != "" {
		appField = fmt.Sprintf(`,"app_proto":%q`, app)
	}
	return fmt.Sprintf(`{"timestamp":"${time}","flow_id":${unix}%d,"in_iface":"eth1","event_type":"alert",`+
		`"src_ip":"%s","src_port":%d,"dest_ip":"%s","dest_port":%d,"proto":%q,`+
		`"alert":{"action":"allowed","gid":1,"signature_id":%d,"rev":3,"signature":%q,"category":%q,"severity":%d},`+
		`"flow":{"pkts_toserver":12,"pkts_toclient":9,"bytes_toserver":1840,"bytes_toclient":2210,"start":"${time}"}%s,`+
		`"direction":"to_server","drill_run":"${run}"}`,
		sport, src, sport, dst, dport, proto, sid, sig, class, sev, appField)
}

// generic is a warroom generic alert with placeholders.
func generic(rule, title, severity, category string, entities [][3]string, labels map[string]string) string {
	var ents []string
	for _, e := range entities {
		ents = append(ents, fmt.Sprintf(`{"kind":%q,"value":"%s","role":%q}`, e[0], e[1], e[2]))
	}
	var ls []string
	for _, k := range sortedKeys(labels) {
		ls = append(ls, fmt.Sprintf(`%q:"%s"`, k, labels[k]))
	}
	return fmt.Sprintf(`{"id":"${run}-${n}","rule":%q,"title":"%s","severity":%q,"category":%q,"event_time":"${time}",`+
		`"entities":[%s],"labels":{%s}}`, rule, title, severity, category, strings.Join(ents, ","), strings.Join(ls, ","))
}

// alertmanager is a version 4 Alertmanager webhook payload with one firing alert.
func alertmanager(name, severity, summary string, labels map[string]string) string {
	ls := []string{fmt.Sprintf(`"alertname":%q`, name), fmt.Sprintf(`"severity":%q`, severity), `"job":"snmp"`}
	for _, k := range sortedKeys(labels) {
		ls = append(ls, fmt.Sprintf(`%q:"%s"`, k, labels[k]))
	}
	l := "{" + strings.Join(ls, ",") + "}"
	return fmt.Sprintf(`{"version":"4","groupKey":%q,"truncatedAlerts":0,"status":"firing","receiver":"warroom",`+
		`"groupLabels":{"alertname":%q},"commonLabels":%s,"commonAnnotations":{"summary":"%s"},`+
		`"externalURL":"http://alertmanager.drill.example:9093","alerts":[{"status":"firing","labels":%s,`+
		`"annotations":{"summary":"%s"},"startsAt":"${time}","endsAt":"0001-01-01T00:00:00Z",`+
		`"generatorURL":"http://prometheus.drill.example:9090/graph?g0.expr=%s","fingerprint":"${hex:fp}${n}"}]}`,
		fmt.Sprintf("{}:{alertname=%q}", name), name, l, summary, l, summary, name)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func every(n int, step time.Duration, body func(i int) (string, string)) []Step {
	out := make([]Step, n)
	for i := range out {
		f, b := body(i)
		out[i] = Step{At: time.Duration(i) * step, Format: f, Body: b}
	}
	return out
}

// Builtins returns the built-in scenarios, one per built-in playbook, sorted by name.
func Builtins() []*Scenario {
	const (
		sshBrute = "ET SCAN LibSSH Based Frequent SSH Connections Likely BruteForce Attack"
		nmap     = "ET SCAN NMAP -sS window 1024"
		synFlood = "ET DOS Possible SYN Flood Inbound"
	)
	list := []*Scenario{
		{
			Name: "ssh-rdp-bruteforce", Playbook: "ssh-rdp-bruteforce", Title: "SSH brute force from outside",
			Description: "An outside address guesses SSH passwords against two servers: 8 Suricata alerts over 3.5 minutes.",
			Steps: every(8, 30*time.Second, func(i int) (string, string) {
				dst := []string{"${ip4:server1}", "${ip4:server2}"}[i%2]
				return "suricata", eve("${ip4:attacker}", dst, 40000+i*7, 22, "TCP", 2019876, sshBrute,
					"Attempted Administrator Privilege Gain", 2, "ssh")
			}),
		},
		{
			Name: "port-scan", Playbook: "port-scan", Title: "IPv6 port scan from outside",
			Description: "An outside IPv6 scanner sweeps ports of a server: 6 Suricata alerts over 1 minute.",
			Steps: every(6, 12*time.Second, func(i int) (string, string) {
				return "suricata", eve("${ip6:scanner}", "${ip6:target}", 51000+i, []int{22, 80, 443, 3306, 3389, 8080}[i],
					"TCP", 2009582, nmap, "Attempted Information Leak", 2, "")
			}),
		},
		{
			Name: "c2-beaconing", Playbook: "c2-beaconing", Title: "C2 beaconing, then lateral movement",
			Description: "A workstation beacons to a C2 server every minute, then moves laterally over SMB to a file server.",
			Steps: append(every(4, time.Minute, func(i int) (string, string) {
				return "generic", generic("cobalt-strike-beacon", "Cobalt Strike beacon from ${host:workstation}", "high", "c2",
					[][3]string{{"host", "${host:workstation}", "src"}, {"ip", "${ip4:c2}", "dst"}}, map[string]string{"drill_run": "${run}"})
			}), Step{At: 4*time.Minute + 30*time.Second, Format: "generic", Body: generic("smb-psexec-lateral",
				"PsExec service created via SMB from ${host:workstation} on ${host:fileserver}", "high", "lateral",
				[][3]string{{"host", "${host:workstation}", "src"}, {"host", "${host:fileserver}", "dst"}}, map[string]string{"drill_run": "${run}"})}),
		},
		{
			Name: "lateral-movement", Playbook: "lateral-movement", Title: "Lateral movement over SMB",
			Description: "A compromised workstation creates services on three servers over SMB within 2 minutes.",
			Steps: every(3, time.Minute, func(i int) (string, string) {
				dst := fmt.Sprintf("${host:server%d}", i+1)
				return "generic", generic("smb-psexec-lateral", "PsExec over SMB from ${host:workstation} to "+dst, "high", "lateral",
					[][3]string{{"host", "${host:workstation}", "src"}, {"host", dst, "dst"}}, map[string]string{"drill_run": "${run}"})
			}),
		},
		{
			Name: "data-exfiltration", Playbook: "data-exfiltration", Title: "Data exfiltration to an outside host",
			Description: "A database host uploads gigabytes to an outside address: 3 alerts over 4 minutes.",
			Steps: every(3, 2*time.Minute, func(i int) (string, string) {
				return "generic", generic("large-upload-exfiltration", "Large upload from ${host:dbhost} to ${ip4:dropsite}", "critical", "exfil",
					[][3]string{{"host", "${host:dbhost}", "src"}, {"ip", "${ip4:dropsite}", "dst"}},
					map[string]string{"bytes_out": fmt.Sprint(1_500_000_000 * (i + 1)), "drill_run": "${run}"})
			}),
		},
		{
			Name: "dns-tunnelling", Playbook: "dns-tunnelling", Title: "DNS tunnelling",
			Description: "A laptop sends long TXT queries to one domain (an iodine-style tunnel): 4 alerts over 3 minutes.",
			Steps: every(4, time.Minute, func(i int) (string, string) {
				return "generic", generic("dns-tunnel-long-txt", "DNS tunnel: long TXT queries from ${host:laptop} to ${domain:tunnel}", "high", "exfil",
					[][3]string{{"host", "${host:laptop}", "src"}, {"domain", "${domain:tunnel}", "dst"}},
					map[string]string{"app_proto": "dns", "query": "${hex:q}.${domain:tunnel}", "drill_run": "${run}"})
			}),
		},
		{
			Name: "ddos", Playbook: "ddos", Title: "SYN flood against a web server",
			Description: "Four outside addresses flood a public web server with SYNs: 8 Suricata alerts over 1 minute.",
			Steps: every(8, 8*time.Second, func(i int) (string, string) {
				return "suricata", eve(fmt.Sprintf("${ip4:bot%d}", i%4), "${ip4:webserver}", 1024+i*13, 443, "TCP",
					2100000, synFlood, "Attempted Denial of Service", 2, "")
			}),
		},
		{
			Name: "routing-loop-bgp-flap", Playbook: "routing-loop-bgp-flap", Title: "BGP session flapping on an edge router",
			Description: "An edge router's BGP session to its upstream flaps and a routing loop follows: Alertmanager alerts over 3 minutes.",
			Steps: []Step{
				{At: 0, Format: "alertmanager", Body: alertmanager("BGPSessionDown", "critical", "BGP session to ${ip4:upstream} is down on ${device:edge}",
					map[string]string{"device": "${device:edge}", "peer_address": "${ip4:upstream}"})},
				{At: time.Minute, Format: "alertmanager", Body: alertmanager("BGPPeerFlapping", "critical", "BGP peer ${ip4:upstream} flapped 6 times in 5 minutes on ${device:edge}",
					map[string]string{"device": "${device:edge}", "peer_address": "${ip4:upstream}"})},
				{At: 3 * time.Minute, Format: "alertmanager", Body: alertmanager("RoutingLoopSuspected", "critical", "TTL-exceeded storm on ${device:edge}: routing loop suspected",
					map[string]string{"device": "${device:edge}"})},
			},
		},
	}
	for _, s := range list {
		s.Builtin = true
	}
	return list
}
