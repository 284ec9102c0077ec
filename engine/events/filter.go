package events

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/events"
)

// Filters are `events --filter KEY=VALUE` flags, values by key. Different
// keys must all match (AND); several values of one key match when any does
// (OR), except label, where docker requires every label given (moby
// MatchKVList). How each key matches is docker's (moby daemon/events
// Filter.Include):
//
//   - type: the event's Type, exactly.
//   - event: the Action, exactly; "health_status", "exec_create" and
//     "exec_start" also match their "health_status: healthy" and
//     "exec_start: sh -c …" forms (prefix).
//   - container, volume, network, daemon, plugin, node, service, secret,
//     config, pod: the actor's ID or its "name" attribute starts with the
//     value (full or short ID, name or name prefix). As in docker this
//     looks at the actor whatever the event's type.
//   - image: the actor's ID, or the "image" attribute (the "name" attribute
//     for image events), equal to the value, with or without its tag.
//   - label: "key" is present, "key=value" has that value.
//   - scope: the Scope ("local").
//
// pod is podman's (podman-events(1)); the rest are docker's list.
type Filters map[string][]string

// nameKeys match the actor's ID or name by prefix (fuzzyMatchName).
var nameKeys = []string{"config", "container", "daemon", "network", "node", "plugin", "pod", "secret", "service", "volume"}

func validKey(k string) bool {
	switch k {
	case "event", "image", "label", "scope", "type":
		return true
	}
	for _, n := range nameKeys {
		if n == k {
			return true
		}
	}
	return false
}

// ParseFilters reads --filter flags. Like docker/cli the key is lowercased
// and both sides trimmed; unlike docker's daemon, which ignores keys it does
// not know, an unknown key is an error (as podman's), since a filter that
// silently filters nothing is worse than a refusal.
func ParseFilters(args []string) (Filters, error) {
	f := Filters{}
	for _, a := range args {
		if a == "" {
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("%w %q: bad format of filter (expected name=value)", ErrInvalidFilter, a)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !validKey(k) {
			keys := append([]string{"event", "image", "label", "scope", "type"}, nameKeys...)
			sort.Strings(keys)
			return nil, fmt.Errorf("%w %q: the filters are %s", ErrInvalidFilter, k, strings.Join(keys, ", "))
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

// Match reports whether ev passes every filter.
func (f Filters) Match(ev Event) bool {
	if len(f) == 0 {
		return true
	}
	if !f.matchEvent(string(ev.Action)) || !f.exact("type", string(ev.Type)) || !f.exact("scope", ev.Scope) {
		return false
	}
	name := ev.Actor.Attributes["name"]
	for _, k := range nameKeys {
		if !f.prefix(k, ev.Actor.ID) && !f.prefix(k, name) {
			return false
		}
	}
	return f.matchImage(ev) && f.matchLabels(ev.Actor.Attributes)
}

// exact is moby's ExactMatch: no values for key, or one equal to s.
func (f Filters) exact(key, s string) bool {
	vs, ok := f[key]
	if !ok {
		return true
	}
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}

// prefix is moby's FuzzyMatch: no values for key, or one s starts with.
func (f Filters) prefix(key, s string) bool {
	vs, ok := f[key]
	if !ok {
		return true
	}
	for _, v := range vs {
		if strings.HasPrefix(s, v) {
			return true
		}
	}
	return false
}

func (f Filters) matchEvent(action string) bool {
	for _, v := range f["event"] {
		switch v {
		case string(events.ActionHealthStatus), string(events.ActionExecCreate), string(events.ActionExecStart):
			return f.prefix("event", action)
		}
	}
	return f.exact("event", action)
}

func (f Filters) matchImage(ev Event) bool {
	if _, ok := f["image"]; !ok {
		return true
	}
	attr := "image"
	if ev.Type == events.ImageEventType {
		attr = "name"
	}
	name := ev.Actor.Attributes[attr]
	return f.exact("image", ev.Actor.ID) || f.exact("image", name) ||
		f.exact("image", familiarName(ev.Actor.ID)) || f.exact("image", familiarName(name))
}

func (f Filters) matchLabels(attrs map[string]string) bool {
	for _, v := range f["label"] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := attrs[k]
		if !ok || hasValue && got != want {
			return false
		}
	}
	return true
}

// familiarName is a reference without its tag or digest, shortened as
// docker shows it (docker.io/library/alpine:3 → alpine), as moby's stripTag
// does with distribution/reference.
func familiarName(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	if rest, ok := strings.CutPrefix(ref, "docker.io/"); ok {
		ref = rest
		if rest, ok := strings.CutPrefix(ref, "library/"); ok && !strings.Contains(rest, "/") {
			ref = rest
		}
	}
	return ref
}
