package app

// Registers the panos connector type: Palo Alto Networks PAN-OS (tag registration for Dynamic Address Groups).
import _ "github.com/warroom/warroom/connectors/panos"
