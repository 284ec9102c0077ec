package engine

import (
	"log/slog"
	"time"
)

// phase logs how long a step took, at debug level: `--log-level debug`
// shows where a command spends its time.
func phase(name string, start time.Time) {
	slog.Debug("phase", "step", name, "took", time.Since(start).Round(10*time.Microsecond))
}
