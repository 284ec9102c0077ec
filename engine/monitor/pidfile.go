package monitor

import (
	"os"
	"strconv"
	"strings"
)

// ReadPidFile reads a pid file: the runtime's (the container's PID) or the
// monitor's; 0 when there is none, or not yet.
func ReadPidFile(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// WritePidFile records pid at path, whole for its readers (systemd reads
// the monitor's).
func WritePidFile(path string, pid int) error {
	return writeAtomic(path, []byte(strconv.Itoa(pid)), 0o644, false)
}
