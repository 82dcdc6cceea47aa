//go:build unix

package triage

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used (user and system, all threads), which
// unlike wall time does not count waiting for a core on a busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
