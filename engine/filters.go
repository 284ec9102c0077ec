package engine

import (
	"strconv"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
)

// The --filter values of volume ls, network ls and the prune verbs, parsed
// once into values the verbs match with (ps's are ParseContainerFilters).

// optionError is a bad option value whose message names the option
// itself ("invalid --filter ..."): config.ErrBadOption, without its prefix.
type optionError string

func (e optionError) Error() string        { return string(e) }
func (e optionError) Is(target error) bool { return target == config.ErrBadOption }

// MatchLabels tells whether labels has every KEY or KEY=VALUE of want.
func MatchLabels(labels map[string]string, want []string) bool {
	for _, w := range want {
		k, v, hasValue := strings.Cut(w, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// VolumeFilters are volume ls's filters; a volume is listed when it
// matches every one.
type VolumeFilters struct {
	Names    []string // name=: part of the name
	Labels   []string // label=KEY[=VALUE]
	Drivers  []string // driver=
	Dangling []bool   // dangling=true|false: no container uses it, or one does
}

// ParseVolumeFilters reads volume ls's --filter values: name=, label=,
// driver=, dangling=true|false.
func ParseVolumeFilters(filters []string) (VolumeFilters, error) {
	var f VolumeFilters
	for _, kv := range filters {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return f, optionError("invalid --filter " + strconv.Quote(kv) + ": want KEY=VALUE")
		}
		switch key {
		case "name":
			f.Names = append(f.Names, val)
		case "label":
			f.Labels = append(f.Labels, val)
		case "driver":
			f.Drivers = append(f.Drivers, val)
		case "dangling":
			if val != "true" && val != "false" {
				return f, optionError("invalid --filter dangling=" + val + ": use true or false")
			}
			f.Dangling = append(f.Dangling, val == "true")
		default:
			return f, optionError("invalid --filter " + strconv.Quote(kv) + ": use name, label, driver or dangling")
		}
	}
	return f, nil
}

// match tells whether v, which some container uses or not, passes the
// filters.
func (f VolumeFilters) match(v *config.Volume, used bool) bool {
	for _, n := range f.Names {
		if !strings.Contains(v.Name, n) {
			return false
		}
	}
	for _, d := range f.Drivers {
		if v.Driver != d {
			return false
		}
	}
	if !MatchLabels(v.Labels, f.Labels) {
		return false
	}
	for _, d := range f.Dangling {
		if used == d {
			return false
		}
	}
	return true
}

// NetworkFilters are network ls's filters; a network is listed when it
// matches every one.
type NetworkFilters struct {
	Names   []string // name=: part of the name
	IDs     []string // id=: a prefix of the id
	Labels  []string // label=KEY[=VALUE]
	Drivers []string // driver=
}

// ParseNetworkFilters reads network ls's --filter values: name=, id=,
// label=, driver=.
func ParseNetworkFilters(filters []string) (NetworkFilters, error) {
	var f NetworkFilters
	for _, kv := range filters {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return f, optionError("invalid --filter " + strconv.Quote(kv) + ": want KEY=VALUE")
		}
		switch key {
		case "name":
			f.Names = append(f.Names, val)
		case "id":
			f.IDs = append(f.IDs, val)
		case "label":
			f.Labels = append(f.Labels, val)
		case "driver":
			f.Drivers = append(f.Drivers, val)
		default:
			return f, optionError("invalid --filter " + strconv.Quote(kv) + ": use name, id, label or driver")
		}
	}
	return f, nil
}

func (f NetworkFilters) match(n *network.Network) bool {
	for _, name := range f.Names {
		if !strings.Contains(n.Name, name) {
			return false
		}
	}
	for _, id := range f.IDs {
		if !strings.HasPrefix(n.ID, id) {
			return false
		}
	}
	for _, d := range f.Drivers {
		if n.Driver != d {
			return false
		}
	}
	return MatchLabels(n.Labels, f.Labels)
}

// PruneFilters are the --filter values of the prune verbs: what is pruned
// has every label, and (containers only) was created before Until.
type PruneFilters struct {
	Labels []string  // KEY or KEY=VALUE
	Until  time.Time // zero: any time
}

// ParsePruneFilters reads volume and network prune's --filter values:
// label=KEY[=VALUE].
func ParsePruneFilters(filters []string) (PruneFilters, error) {
	var f PruneFilters
	for _, kv := range filters {
		k, v, _ := strings.Cut(kv, "=")
		if k != "label" || v == "" {
			return f, optionError("invalid --filter " + strconv.Quote(kv) + ": use label=KEY[=VALUE]")
		}
		f.Labels = append(f.Labels, v)
	}
	return f, nil
}

// ParseContainerPruneFilters reads container prune's --filter values:
// label=KEY[=VALUE], until=DURATION or until=TIME (RFC 3339); a duration
// counts back from now.
func ParseContainerPruneFilters(filters []string, now time.Time) (PruneFilters, error) {
	var f PruneFilters
	for _, kv := range filters {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "label" && v != "":
			f.Labels = append(f.Labels, v)
		case k == "until" && v != "":
			d, err := time.ParseDuration(v)
			if err != nil {
				t, terr := time.Parse(time.RFC3339, v)
				if terr != nil {
					return f, optionError("invalid --filter until=" + v + ": a duration (1h) or an RFC 3339 time")
				}
				f.Until = t
			} else {
				f.Until = now.Add(-d)
			}
		default:
			return f, optionError("invalid --filter " + strconv.Quote(kv) + ": use label=KEY[=VALUE] or until=DURATION")
		}
	}
	return f, nil
}
