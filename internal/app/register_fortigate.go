package app

// Registers the fortigate connector type: Fortinet FortiGate (FortiOS quarantine list).
import _ "github.com/warroom/warroom/connectors/fortigate"
