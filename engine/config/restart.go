package config

import (
	"strconv"
	"strings"
)

// Restart policies, as docker names them.
const (
	RestartNo            = "no"
	RestartOnFailure     = "on-failure"
	RestartAlways        = "always"
	RestartUnlessStopped = "unless-stopped"
)

// Restart is a container's restart policy.
type Restart struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

// ParseRestart reads --restart: no, always, unless-stopped, or
// on-failure[:N].
func ParseRestart(s string) (Restart, error) {
	name, max, hasMax := strings.Cut(s, ":")
	switch name {
	case "", RestartNo, RestartAlways, RestartUnlessStopped:
		if hasMax {
			break
		}
		if name == "" {
			name = RestartNo
		}
		return Restart{Name: name}, nil
	case RestartOnFailure:
		r := Restart{Name: name}
		if hasMax {
			n, err := strconv.Atoi(max)
			if err != nil || n < 0 {
				return r, Badf("--restart %s: the retry count must be a number, 0 or more", s)
			}
			r.MaximumRetryCount = n
		}
		return r, nil
	}
	return Restart{}, Badf("--restart %q: use no, always, unless-stopped or on-failure[:N]", s)
}
