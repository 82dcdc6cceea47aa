package app

// Registers the opnsense connector type: OPNsense (alias utilities).
import _ "github.com/warroom/warroom/connectors/opnsense"
