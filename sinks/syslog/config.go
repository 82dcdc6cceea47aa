package syslog

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warroom/warroom/sinks"
)

// Sample is an example configuration of this sink, as a sinks section.
//
//go:embed sample.yaml
var Sample string

// Config is the syslog sink's settings.
type Config struct {
	// Network is udp (RFC 5426, one message per datagram), tcp (RFC 6587 octet
	// counting) or tls (RFC 5425). Default tcp.
	Network string `yaml:"network"`
	// Address is the receiver, host:port. Required.
	Address string `yaml:"address"`
	// Facility is the syslog facility name (default local0).
	Facility string `yaml:"facility"`
	// AppName is the APP-NAME header field (default warroom).
	AppName string `yaml:"app_name"`
	// Hostname is the HOSTNAME header field (default this machine's name).
	Hostname string `yaml:"hostname"`
	// SDID names the structured-data element holding the event's id, type, incident
	// and actor; the fields go in a second element "fields@<same number>". Default
	// warroom@32473 (32473 is the example enterprise number of RFC 5612: use your own).
	SDID string `yaml:"sd_id"`
	// MaxMessageBytes is the largest message sent (default 8192). A longer one has its
	// field values shortened, and is marked truncated="true".
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Timeout bounds connecting and writing (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// For network tls: ca_file, insecure_skip_verify, the server name to check the
	// certificate against (default the host of address), and a client certificate and
	// key for mutual authentication.
	sinks.TLS  `yaml:",inline"`
	ServerName string `yaml:"server_name"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Network: "tcp", Facility: "local0", AppName: "warroom", SDID: "warroom@32473", MaxMessageBytes: 8192, Timeout: 10 * time.Second}
}

// Facilities maps facility names to their codes (RFC 5424 §6.2.1).
var Facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// sdIDRE: SD-NAME characters are printable US-ASCII except SP, '=', ']' and '"'; '@'
// separates the name from the enterprise number.
var sdIDRE = regexp.MustCompile(`^([!#-<>?A-\\^-~]+)@([1-9][0-9]*)$`)

const (
	minMessageBytes = 480 // RFC 5426: every receiver must take this much
	maxUDPMessage   = 65507
	maxTCPMessage   = 1 << 20
)

// Validate checks the settings.
func (c *Config) Validate() error {
	switch c.Network {
	case "udp", "tcp", "tls":
	default:
		return fmt.Errorf("network %q: want udp, tcp or tls", c.Network)
	}
	if c.Address == "" {
		return errors.New("address is required (host:port)")
	}
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil || host == "" {
		return fmt.Errorf("address %q: want host:port", c.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port must be 1 to 65535", c.Address)
	}
	if _, ok := Facilities[c.Facility]; !ok {
		names := make([]string, 0, len(Facilities))
		for n := range Facilities {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("facility %q: want one of %s", c.Facility, strings.Join(names, ", "))
	}
	if err := printUSASCII("app_name", c.AppName, 48, true); err != nil {
		return err
	}
	if err := printUSASCII("hostname", c.Hostname, 255, false); err != nil {
		return err
	}
	m := sdIDRE.FindStringSubmatch(c.SDID)
	if m == nil || len(c.SDID) > 32 {
		return fmt.Errorf("sd_id %q: want name@enterprise-number, at most 32 printable characters without space, '=', ']' or '\"'", c.SDID)
	}
	if m[1] == "fields" {
		return fmt.Errorf("sd_id %q: the name fields is taken by the fields element; choose another", c.SDID)
	}
	limit := maxTCPMessage
	if c.Network == "udp" {
		limit = maxUDPMessage
	}
	if c.MaxMessageBytes < minMessageBytes || c.MaxMessageBytes > limit {
		return fmt.Errorf("max_message_bytes %d: want %d to %d for network %s", c.MaxMessageBytes, minMessageBytes, limit, c.Network)
	}
	if c.Timeout <= 0 || c.Timeout > 5*time.Minute {
		return fmt.Errorf("timeout %s: want more than 0s and at most 5m", c.Timeout)
	}
	if c.Network != "tls" {
		if !c.TLS.IsZero() || c.ServerName != "" || c.CertFile != "" || c.KeyFile != "" {
			return fmt.Errorf("ca_file, insecure_skip_verify, server_name, cert_file and key_file apply only to network: tls, not %s", c.Network)
		}
		return nil
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("cert_file and key_file go together: set both for a client certificate, or neither")
	}
	return c.TLS.Validate()
}

func printUSASCII(key, v string, max int, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("%s must not be empty", key)
		}
		return nil
	}
	if len(v) > max {
		return fmt.Errorf("%s: %d characters, at most %d are allowed", key, len(v), max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 33 || v[i] > 126 {
			return fmt.Errorf("%s %q: only printable US-ASCII without spaces is allowed", key, v)
		}
	}
	return nil
}
