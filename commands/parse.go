// Package commands is warroom's chat command set, shared by every platform: one parser
// for `/warroom ...` text, and the handlers that turn commands and button clicks into
// incident changes and actions after checking who asked.
package commands

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

// Name is a command's name.
type Name string

// The commands.
const (
	Help          Name = "help"
	Status        Name = "status"
	Ack           Name = "ack"
	Assign        Name = "assign"
	Block         Name = "block"
	Unblock       Name = "unblock"
	Isolate       Name = "isolate"
	Release       Name = "release"
	Resolve       Name = "resolve"
	FalsePositive Name = "false-positive"
	Timeline      Name = "timeline"
	Note          Name = "note"
	Drill         Name = "drill"
)

// arg is what a command takes after its name (and after an optional incident number).
type arg int

const (
	argNone    arg = iota
	argUser        // one @user
	argTarget      // an IP or CIDR, then an optional TTL
	argHost        // a host name or IP
	argText        // free text, optional
	argTextReq     // free text, required
)

type spec struct {
	arg      arg
	incident bool // needs an incident (implied in a room)
	usage    string
}

var specs = map[Name]spec{
	Help:          {argNone, false, "help"},
	Status:        {argNone, false, "status"},
	Ack:           {argNone, true, "ack"},
	Assign:        {argUser, true, "assign @user"},
	Block:         {argTarget, true, "block <ip|cidr> [ttl]"},
	Unblock:       {argTarget, true, "unblock <ip|cidr>"},
	Isolate:       {argHost, true, "isolate <host>"},
	Release:       {argHost, true, "release <host>"},
	Resolve:       {argText, true, "resolve [note]"},
	FalsePositive: {argText, true, "false-positive [note]"},
	Timeline:      {argNone, true, "timeline"},
	Note:          {argTextReq, true, "note <text>"},
	Drill:         {argTextReq, false, "drill start <scenario> | drill list"},
}

var aliases = map[string]Name{
	"acknowledge": Ack, "fp": FalsePositive, "false_positive": FalsePositive, "falsepositive": FalsePositive,
}

// Names lists the commands in help order.
var Names = []Name{Help, Status, Ack, Assign, Block, Unblock, Isolate, Release, Resolve, FalsePositive, Timeline, Note, Drill}

// Command is a parsed chat command.
type Command struct {
	Name Name
	// Incident is the incident id named in the command (INC-0042), or 0 when it is
	// implied by the room the command was typed in.
	Incident int64
	// Target is the IP prefix of block and unblock (a bare address becomes /32 or /128).
	Target netip.Prefix
	// Host is the host of isolate and release, User the @user of assign.
	Host string
	User string
	// TTL of a block; 0 means the playbook's or the configured default.
	TTL time.Duration
	// Text is the note of note, resolve and false-positive, and the verb of drill
	// (start or list).
	Text string
	// Scenario is the drill scenario of drill start.
	Scenario string
}

// MaxInput is the longest command text accepted.
const MaxInput = 4096

// MaxTTL is the longest block a command may ask for.
const MaxTTL = 30 * 24 * time.Hour

// Error is a parse error with the usage line to show the user.
type Error struct {
	Msg   string
	Usage string
}

func (e *Error) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	sep := ". "
	if strings.HasSuffix(e.Msg, "?") {
		sep = " "
	}
	return e.Msg + sep + "Usage: /warroom " + e.Usage
}

// Parse reads the text after the slash command (or after a mention) — for example
// "block 203.0.113.7 24h" or "INC-0042 ack". inRoom says whether it was typed in an
// incident's room, where the incident is implied; elsewhere commands about one
// incident must name it.
func Parse(text string, inRoom bool) (Command, error) {
	if len(text) > MaxInput {
		return Command{}, &Error{Msg: fmt.Sprintf("command is %d bytes; at most %d", len(text), MaxInput)}
	}
	if !utf8.ValidString(text) {
		return Command{}, &Error{Msg: "command is not valid UTF-8"}
	}
	fields := strings.FieldsFunc(text, unicode.IsSpace)
	if len(fields) > 0 && strings.EqualFold(fields[0], "/warroom") {
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return Command{Name: Help}, nil
	}
	var cmd Command
	// An incident number may come first ("INC-0042 ack") or right after the name.
	if id, ok := incidentRef(fields[0]); ok {
		cmd.Incident = id
		fields = fields[1:]
		if len(fields) == 0 {
			return Command{}, &Error{Msg: "which command for " + model.IncidentNumber(id) + "?", Usage: "INC-0042 <command>; try /warroom help"}
		}
	}
	word := strings.ToLower(fields[0])
	name := Name(word)
	if a, ok := aliases[word]; ok {
		name = a
	}
	sp, ok := specs[name]
	if !ok {
		return Command{}, unknown(fields[0])
	}
	cmd.Name = name
	args := fields[1:]
	if cmd.Incident == 0 && len(args) > 0 {
		if id, ok := incidentRef(args[0]); ok {
			cmd.Incident = id
			args = args[1:]
		}
	}
	if sp.incident && cmd.Incident == 0 && !inRoom {
		return Command{}, &Error{Msg: "outside an incident room, name the incident (INC-0042)", Usage: "INC-0042 " + sp.usage}
	}
	if !sp.incident && cmd.Incident != 0 {
		return Command{}, &Error{Msg: string(name) + " does not take an incident", Usage: sp.usage}
	}
	bad := func(msg string) (Command, error) { return Command{}, &Error{Msg: msg, Usage: sp.usage} }
	switch sp.arg {
	case argNone:
		if len(args) > 0 {
			return bad(fmt.Sprintf("%s takes no arguments", name))
		}
	case argUser:
		if len(args) != 1 {
			return bad("name exactly one user")
		}
		u := strings.TrimPrefix(args[0], "@")
		if u == "" || len(u) > 128 {
			return bad(fmt.Sprintf("%q is not a user", args[0]))
		}
		cmd.User = u
	case argTarget:
		max := 2
		if name == Unblock {
			max = 1
		}
		if len(args) == 0 || len(args) > max {
			return bad("give one address or CIDR" + map[bool]string{true: " and an optional TTL", false: ""}[max == 2])
		}
		p, err := parseTarget(args[0])
		if err != nil {
			return bad(err.Error())
		}
		cmd.Target = p
		if len(args) == 2 {
			d, err := parseTTL(args[1])
			if err != nil {
				return bad(err.Error())
			}
			cmd.TTL = d
		}
	case argHost:
		if len(args) != 1 {
			return bad("name exactly one host")
		}
		h := strings.ToLower(args[0])
		if !validHost(h) {
			return bad(fmt.Sprintf("%q is not a host name or address", args[0]))
		}
		cmd.Host = h
	case argText, argTextReq:
		cmd.Text = strings.Join(args, " ")
		if name == Drill {
			return parseDrill(cmd, args, bad)
		}
		if sp.arg == argTextReq && cmd.Text == "" {
			return bad("the note is empty")
		}
	}
	return cmd, nil
}

func incidentRef(s string) (int64, bool) {
	if len(s) < 5 || !strings.EqualFold(s[:4], "INC-") {
		return 0, false
	}
	id, err := model.ParseIncidentRef(s)
	return id, err == nil
}

func parseTarget(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 203.0.113.0/24", s)
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: zones are not allowed", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseTTL(s string) (time.Duration, error) {
	unit := time.Duration(0)
	num := s
	if strings.HasSuffix(s, "d") {
		unit, num = 24*time.Hour, strings.TrimSuffix(s, "d")
	}
	var d time.Duration
	if unit != 0 {
		var n int
		if _, err := fmt.Sscanf(num, "%d", &n); err != nil || fmt.Sprint(n) != num {
			return 0, fmt.Errorf("TTL %q: write it like 30m, 24h or 7d", s)
		}
		d = time.Duration(n) * unit
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("TTL %q: write it like 30m, 24h or 7d", s)
		}
	}
	if d < time.Minute || d > MaxTTL {
		return 0, fmt.Errorf("TTL %s: want between 1m and %s", s, "30d")
	}
	return d, nil
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// unknown builds the error for an unknown command, suggesting the closest one.
func unknown(word string) error {
	best, bestD := Name(""), 1<<30
	lw := strings.ToLower(word)
	for _, n := range Names {
		if d := distance(lw, string(n)); d < bestD {
			best, bestD = n, d
		}
	}
	shown := word
	if len(shown) > 40 {
		shown = shown[:40] + "…"
	}
	if bestD <= 3 {
		return &Error{Msg: fmt.Sprintf("unknown command %q; did you mean %q?", shown, best), Usage: specs[best].usage}
	}
	return &Error{Msg: fmt.Sprintf("unknown command %q", shown), Usage: "help"}
}

// distance is the Levenshtein distance, bounded to short words.
func distance(a, b string) int {
	if len(a) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Usage returns the help text listing every command.
func Usage() string {
	var b strings.Builder
	b.WriteString("warroom commands (in an incident room the incident is implied; elsewhere put INC-0042 first):\n")
	for _, n := range Names {
		b.WriteString("  /warroom " + specs[n].usage + "\n")
	}
	return b.String()
}

// IsParseError reports whether err came from Parse.
func IsParseError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// parseDrill reads "drill start SCENARIO" and "drill list".
func parseDrill(cmd Command, args []string, bad func(string) (Command, error)) (Command, error) {
	switch {
	case len(args) == 1 && strings.EqualFold(args[0], "list"):
		cmd.Text = "list"
	case len(args) == 2 && strings.EqualFold(args[0], "start"):
		sc := strings.ToLower(args[1])
		if len(sc) > 63 || strings.Trim(sc, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return bad(fmt.Sprintf("%q is not a scenario name", args[1]))
		}
		cmd.Text, cmd.Scenario = "start", sc
	default:
		return bad("say drill start <scenario> or drill list")
	}
	return cmd, nil
}
