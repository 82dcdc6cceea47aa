package app

// The cisco_fmc connector registers itself with the connector registry when its
// package loads, so configurations can use `type: cisco_fmc`.
import _ "github.com/warroom/warroom/connectors/cisco_fmc"
