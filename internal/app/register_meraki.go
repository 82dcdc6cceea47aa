package app

// The meraki connector registers itself with the connector registry when its
// package loads, so configurations can use `type: meraki`.
import _ "github.com/warroom/warroom/connectors/meraki"
