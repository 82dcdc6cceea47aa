package ingest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// benchSuricataBody is n EVE alert lines shaped like a sensor's (one in eight is
// IPv6), each with its own addresses, ports and timestamp.
func benchSuricataBody(n int) []byte {
	sigs := []string{
		`"gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2`,
		`"gid":1,"signature_id":2027863,"rev":3,"signature":"ET MALWARE Cobalt Strike Beacon Observed","category":"A Network Trojan was detected","severity":1`,
		`"gid":1,"signature_id":2013028,"rev":3,"signature":"ET POLICY curl User-Agent Outbound","category":"Attempted Information Leak","severity":3`,
		`"gid":1,"signature_id":2019401,"rev":4,"signature":"ET DOS Possible SYN Flood Inbound","category":"Attempted Denial of Service","severity":2`,
	}
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		src, dst := fmt.Sprintf("172.16.%d.%d", i/250%250, i%250+1), fmt.Sprintf("203.0.113.%d", i%200+1)
		if i%8 == 7 {
			src = fmt.Sprintf("2001:db8:%x::%x", i%65536, i%251+1)
		}
		fmt.Fprintf(&b, `{"timestamp":"2026-11-20T09:%02d:%02d.%06d+0000","flow_id":%d,"in_iface":"eth1","event_type":"alert",`+
			`"src_ip":"%s","src_port":%d,"dest_ip":"%s","dest_port":22,"proto":"TCP","community_id":"1:pyYc1q3vpHJAKOPwACIxKfT%05d=",`+
			`"alert":{"action":"allowed",%s},"flow":{"pkts_toserver":23,"pkts_toclient":29,"bytes_toserver":3458,`+
			`"bytes_toclient":8787,"start":"2026-11-20T09:00:30.846551+0000"},"app_proto":"ssh","host":"sensor-dmz"}`+"\n",
			i/60%60, i%60, i*7919%1000000, 1000001273499+i, src, 40000+i%20000, dst, i%100000, sigs[i%len(sigs)])
	}
	return b.Bytes()
}

func benchGenericBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"rule":"ssh-bruteforce","title":"SSH brute force from 203.0.113.%d","severity":"high",`+
			`"event_time":"2026-11-20T09:%02d:%02dZ","entities":[{"kind":"ip","value":"203.0.113.%d","role":"src"},`+
			`{"kind":"host","value":"web-%d","role":"dst"}],"labels":{"service":"sshd","port":"22"}}`,
			i%200+1, i/60%60, i%60, i%200+1, i%50)
	}
	b.WriteString("]")
	return b.Bytes()
}

func benchDecode(b *testing.B, format string, body []byte) {
	d, _ := Lookup(format)
	opts := testOpts()
	items, err := d.Decode(body, opts)
	if err != nil {
		b.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil {
			b.Fatalf("item %d: %v", i, it.Err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := d.Decode(body, opts); err != nil {
			b.Fatal(err)
		}
	}
	perAlert := float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(items))
	b.ReportMetric(perAlert, "ns/alert")
	b.ReportMetric(1e9/perAlert, "alerts/s")
}

// BenchmarkSuricataDecode decodes EVE alert lines one at a time (single-alert
// requests) and 100 per body (batched requests).
func BenchmarkSuricataDecode(b *testing.B) {
	body := benchSuricataBody(100)
	b.Run("1", func(b *testing.B) { benchDecode(b, "suricata", body[:bytes.IndexByte(body, '\n')+1]) })
	b.Run("100", func(b *testing.B) { benchDecode(b, "suricata", body) })
}

// BenchmarkSuricataDecodeParallel decodes 100-line bodies on every core.
func BenchmarkSuricataDecodeParallel(b *testing.B) {
	body := benchSuricataBody(100)
	d, _ := Lookup("suricata")
	opts := testOpts()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Decode(body, opts); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "alerts/s")
}

func BenchmarkGenericDecode(b *testing.B) {
	b.Run("1", func(b *testing.B) { benchDecode(b, "generic", benchGenericBody(1)) })
	b.Run("100", func(b *testing.B) { benchDecode(b, "generic", benchGenericBody(100)) })
}

func BenchmarkAlertmanagerDecode(b *testing.B) {
	benchDecode(b, "alertmanager", readFixture(b, "alertmanager.json"))
}

func BenchmarkZeekDecode(b *testing.B) {
	benchDecode(b, "zeek", bytes.Repeat(readFixture(b, "zeek-notice.ndjson"), 30))
}

// BenchmarkSuricataSkip measures non-alert events, which a sensor may send in bulk.
func BenchmarkSuricataSkip(b *testing.B) {
	line := `{"timestamp":"2026-11-20T09:00:31.002114+0000","flow_id":1000001273499,"in_iface":"eth1","event_type":"flow",` +
		`"src_ip":"172.16.7.33","src_port":49730,"dest_ip":"93.184.216.34","dest_port":443,"proto":"TCP","app_proto":"tls",` +
		`"flow":{"pkts_toserver":23,"pkts_toclient":29,"bytes_toserver":3458,"bytes_toclient":8787,"state":"closed"}}` + "\n"
	body := []byte(strings.Repeat(line, 100))
	d, _ := Lookup("suricata")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d.Decode(body, testOpts())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
