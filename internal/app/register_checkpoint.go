package app

// The checkpoint connector registers itself with the connector registry when its
// package loads, so configurations can use `type: checkpoint`.
import _ "github.com/warroom/warroom/connectors/checkpoint"
