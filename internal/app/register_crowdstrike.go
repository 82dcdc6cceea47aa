package app

// Registers the crowdstrike connector type (CrowdStrike Falcon host containment), so a
// configuration can name it.
import _ "github.com/warroom/warroom/connectors/crowdstrike"
