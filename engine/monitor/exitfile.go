package monitor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// WriteExitFile records an exit status as the monitor does (write_exit in
// monitor.c): written aside and renamed into place (see Syncing).
func WriteExitFile(path string, code int) {
	_ = writeAtomic(path, []byte(fmt.Sprintf("%d %d\n", code, time.Now().UnixNano())), 0o600, false)
}

// ReadExitFile returns the recorded exit status and time, if any.
func ReadExitFile(path string) (int, time.Time, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, time.Time{}, false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, time.Time{}, false
	}
	code, err1 := strconv.Atoi(f[0])
	ns, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, false
	}
	return code, time.Unix(0, ns), true
}
