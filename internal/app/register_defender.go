package app

// Registers the defender connector type (Microsoft Defender for Endpoint machine
// isolation), so a configuration can name it.
import _ "github.com/warroom/warroom/connectors/defender"
