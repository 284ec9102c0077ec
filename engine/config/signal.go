package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/sys/signal"
)

// ParseSignal accepts a signal by name (TERM, SIGTERM) or number.
func ParseSignal(s string) (string, error) {
	if s == "" {
		return "TERM", nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return "", fmt.Errorf("%w: signal %q", ErrBadOption, s)
		}
		return s, nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if _, ok := signal.SignalMap[name]; !ok {
		return "", fmt.Errorf("%w: unknown signal %q", ErrBadOption, s)
	}
	return name, nil
}
