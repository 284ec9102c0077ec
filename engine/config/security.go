package config

import (
	"strconv"
	"strings"
)

// IDMapping maps Size ids from ContainerID on to HostID of skiff's user
// namespace (where 0 is the user).
type IDMapping struct {
	ContainerID uint32 `json:"ContainerID"`
	HostID      uint32 `json:"HostID"`
	Size        uint32 `json:"Size"`
}

// Ulimit is one --ulimit.
type Ulimit struct {
	Name string `json:"Name"`
	Soft uint64 `json:"Soft"`
	Hard uint64 `json:"Hard"`
}

// Device is one --device: a host device node bound into the container.
type Device struct {
	Host      string `json:"PathOnHost"`
	Container string `json:"PathInContainer"`
	Perms     string `json:"CgroupPermissions"`
}

// Security is what the runtime enforces beyond the defaults.
//
// It is stored with the container as JSON, and no list or map field is
// omitted when empty: an empty list is a choice (--cap-drop ALL is no
// capability at all), which must not come back from the state database as
// nil, the defaults.
type Security struct {
	Init        bool              `json:"Init,omitempty"`
	Caps        []string          `json:"Capabilities"` // the final set; nil: the defaults, empty: none
	Privileged  bool              `json:"Privileged,omitempty"`
	NoNewPrivs  bool              `json:"NoNewPrivileges,omitempty"`
	Seccomp     string            `json:"Seccomp,omitempty"` // "", "unconfined", or a profile (JSON)
	Unmask      []string          `json:"Unmask"`            // paths, or ALL
	Mask        []string          `json:"Mask"`
	Userns      string            `json:"Userns,omitempty"`
	UIDMap      []IDMapping       `json:"UIDMap"`
	GIDMap      []IDMapping       `json:"GIDMap"`
	Ulimits     []Ulimit          `json:"Ulimits"`
	ShmSize     int64             `json:"ShmSize,omitempty"`
	StopTimeout *int              `json:"StopTimeoutSeconds,omitempty"` // seconds as given; nil: 10 (read with StopTimeoutSeconds)
	GroupAdd    []string          `json:"GroupAdd"`
	Devices     []Device          `json:"Devices"`
	Sysctls     map[string]string `json:"Sysctls"`
}

// StopTimeoutSeconds is the container's --stop-timeout, and whether it
// has one (else stop waits 10 s). Records that kept it the older way
// (the seconds plus one) are rewritten when the state database opens.
func (s Security) StopTimeoutSeconds() (int, bool) {
	if s.StopTimeout == nil {
		return 0, false
	}
	return *s.StopTimeout, true
}

var ulimitNames = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
	"nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

// ParseUlimit reads NAME=SOFT[:HARD] (-1 or unlimited for no limit).
func ParseUlimit(s string) (Ulimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if _, known := ulimitNames[name]; !ok || !known {
		return Ulimit{}, Badf("--ulimit %q: want NAME=SOFT[:HARD] with NAME one of nofile, nproc, core, stack, memlock, ...", s)
	}
	num := func(v string) (uint64, error) {
		if v == "-1" || v == "unlimited" {
			return ^uint64(0), nil
		}
		return strconv.ParseUint(v, 10, 64)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	soft, err := num(softS)
	if err != nil {
		return Ulimit{}, Badf("--ulimit %q: %q is not a number", s, softS)
	}
	hard := soft
	if hasHard {
		if hard, err = num(hardS); err != nil {
			return Ulimit{}, Badf("--ulimit %q: %q is not a number", s, hardS)
		}
	}
	if soft > hard {
		return Ulimit{}, Badf("--ulimit %q: the soft limit is above the hard one", s)
	}
	return Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

// Rlimit is the runtime's name of the limit (RLIMIT_NOFILE for nofile).
func (u Ulimit) Rlimit() string { return ulimitNames[u.Name] }
