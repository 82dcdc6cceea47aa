package commands

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		inRoom bool
		want   Command
	}{
		{"", true, Command{Name: Help}},
		{"/warroom help", false, Command{Name: Help}},
		{"status", false, Command{Name: Status}},
		{"ack", true, Command{Name: Ack}},
		{"ACK", true, Command{Name: Ack}},
		{"acknowledge", true, Command{Name: Ack}},
		{"ack INC-0042", false, Command{Name: Ack, Incident: 42}},
		{"INC-42 ack", false, Command{Name: Ack, Incident: 42}},
		{"inc-0042 resolve fixed upstream", false, Command{Name: Resolve, Incident: 42, Text: "fixed upstream"}},
		{"assign @alice", true, Command{Name: Assign, User: "alice"}},
		{"block 203.0.113.7", true, Command{Name: Block, Target: netip.MustParsePrefix("203.0.113.7/32")}},
		{"block 203.0.113.7 24h", true, Command{Name: Block, Target: netip.MustParsePrefix("203.0.113.7/32"), TTL: 24 * time.Hour}},
		{"block 203.0.113.9/24 7d", true, Command{Name: Block, Target: netip.MustParsePrefix("203.0.113.0/24"), TTL: 7 * 24 * time.Hour}},
		{"block 2001:db8::1 30m", true, Command{Name: Block, Target: netip.MustParsePrefix("2001:db8::1/128"), TTL: 30 * time.Minute}},
		{"block ::ffff:203.0.113.7", true, Command{Name: Block, Target: netip.MustParsePrefix("203.0.113.7/32")}},
		{"unblock 203.0.113.7", true, Command{Name: Unblock, Target: netip.MustParsePrefix("203.0.113.7/32")}},
		{"isolate WS-042.corp.example", true, Command{Name: Isolate, Host: "ws-042.corp.example"}},
		{"release 172.16.7.33", true, Command{Name: Release, Host: "172.16.7.33"}},
		{"fp", true, Command{Name: FalsePositive}},
		{"false-positive scanner is ours", true, Command{Name: FalsePositive, Text: "scanner is ours"}},
		{"timeline", true, Command{Name: Timeline}},
		{"note  called   the ISP ", true, Command{Name: Note, Text: "called the ISP"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.inRoom)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		inRoom bool
		want   string
	}{
		{"blok 1.2.3.4", true, `unknown command "blok"; did you mean "block"? Usage: /warroom block <ip|cidr> [ttl]`},
		{"resolv", true, `unknown command "resolv"; did you mean "resolve"? Usage: /warroom resolve [note]`},
		{"xyzzyplugh", true, `unknown command "xyzzyplugh". Usage: /warroom help`},
		{"ack", false, `outside an incident room, name the incident (INC-0042). Usage: /warroom INC-0042 ack`},
		{"block", true, `give one address or CIDR and an optional TTL. Usage: /warroom block <ip|cidr> [ttl]`},
		{"block evil.example", true, `"evil.example" is not an IP address or CIDR. Usage: /warroom block <ip|cidr> [ttl]`},
		{"block 10.0.0.0/33", true, `"10.0.0.0/33" is not a CIDR like 203.0.113.0/24. Usage: /warroom block <ip|cidr> [ttl]`},
		{"block 203.0.113.7 forever", true, `TTL "forever": write it like 30m, 24h or 7d. Usage: /warroom block <ip|cidr> [ttl]`},
		{"block 203.0.113.7 90d", true, `TTL 90d: want between 1m and 30d. Usage: /warroom block <ip|cidr> [ttl]`},
		{"block 203.0.113.7 10s", true, `TTL 10s: want between 1m and 30d. Usage: /warroom block <ip|cidr> [ttl]`},
		{"block fe80::1%eth0", true, `"fe80::1%eth0" is not an IP address or CIDR. Usage: /warroom block <ip|cidr> [ttl]`},
		{"unblock 203.0.113.7 24h", true, `give one address or CIDR. Usage: /warroom unblock <ip|cidr>`},
		{"ack now", true, `ack takes no arguments. Usage: /warroom ack`},
		{"status INC-0042", false, `status does not take an incident. Usage: /warroom status`},
		{"INC-0042", false, `which command for INC-0042? Usage: /warroom INC-0042 <command>; try /warroom help`},
		{"note", true, `the note is empty. Usage: /warroom note <text>`},
		{"isolate <script>", true, `"<script>" is not a host name or address. Usage: /warroom isolate <host>`},
		{"assign", true, `name exactly one user. Usage: /warroom assign @user`},
		{"ack \xff", true, `command is not valid UTF-8`},
		{strings.Repeat("a", MaxInput+1), true, `command is 4097 bytes; at most 4096`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in, tt.inRoom)
		if err == nil {
			t.Errorf("Parse(%q) succeeded; want %q", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q)\n got %q\nwant %q", tt.in, err, tt.want)
		}
		if !IsParseError(err) {
			t.Errorf("Parse(%q): error is not a parse error", tt.in)
		}
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	u := Usage()
	for _, n := range Names {
		if !strings.Contains(u, "/warroom "+specs[n].usage) {
			t.Errorf("usage lacks %s", n)
		}
	}
	if len(Names) != len(specs) {
		t.Errorf("%d names, %d specs", len(Names), len(specs))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"block 203.0.113.7 24h", "INC-1 ack", "note hi", "assign @bob", "isolate h", "unblock ::1/128", "blok"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, inRoom bool) {
		c, err := Parse(in, inRoom)
		if err != nil {
			if !IsParseError(err) {
				t.Fatalf("error of another kind: %v", err)
			}
			if !utf8.ValidString(err.Error()) && utf8.ValidString(in) {
				t.Fatalf("error text not UTF-8: %q", err)
			}
			return
		}
		sp, ok := specs[c.Name]
		if !ok {
			t.Fatalf("unknown name %q", c.Name)
		}
		if sp.incident && !inRoom && c.Incident == 0 {
			t.Fatalf("%s accepted outside a room without an incident", c.Name)
		}
		if (c.Name == Block || c.Name == Unblock) && !c.Target.IsValid() {
			t.Fatalf("%s without a target", c.Name)
		}
		if c.TTL != 0 && (c.TTL < time.Minute || c.TTL > MaxTTL) {
			t.Fatalf("TTL %v out of range", c.TTL)
		}
		if c.Target.IsValid() && c.Target != c.Target.Masked() {
			t.Fatalf("target %v not masked", c.Target)
		}
	})
}
