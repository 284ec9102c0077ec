package events

import (
	"errors"
	"testing"

	"github.com/moby/moby/api/types/events"
)

func TestFilters(t *testing.T) {
	web := New(events.ContainerEventType, events.ActionStart, "0fdb48addc82871eb34eb23a847cfd033dedd1a0a37bef2e6d9eb3870fc7ff37",
		map[string]string{"name": "web", "image": "docker.io/library/alpine:latest", "tier": "front", "env": "prod"})
	web.Scope = "local"
	health := New(events.ContainerEventType, "health_status: healthy", "d9cdb1525ea8", map[string]string{"name": "db", "image": "127.0.0.1:5000/skiff/busybox:1.0"})
	execStart := New(events.ContainerEventType, "exec_start: sh -c true", "d9cdb1525ea8", map[string]string{"name": "db"})
	pull := New(events.ImageEventType, events.ActionPull, "127.0.0.1:5000/skiff/busybox:latest", map[string]string{"name": "127.0.0.1:5000/skiff/busybox:latest"})
	vol := New(events.VolumeEventType, events.ActionCreate, "data", map[string]string{"driver": "local"})
	netConnect := New(events.NetworkEventType, events.ActionConnect, "8b111217", map[string]string{"name": "bridge", "container": "0fdb48addc82"})

	cases := []struct {
		filters []string
		ev      Event
		want    bool
	}{
		// One row per documented behaviour (docker events reference,
		// "Filtering"; moby daemon/events/filter.go).
		{nil, web, true},
		{[]string{"type=container"}, web, true},
		{[]string{"type=image"}, web, false},
		{[]string{"type=image", "type=container"}, web, true}, // same key: OR
		{[]string{"TYPE = container"}, web, true},             // docker/cli lowercases the key and trims
		{[]string{"event=start"}, web, true},
		{[]string{"event=star"}, web, false}, // actions match exactly
		{[]string{"event=stop", "event=start"}, web, true},
		{[]string{"event=health_status"}, health, true}, // …except these three, by prefix
		{[]string{"event=health_status: healthy"}, health, true},
		{[]string{"event=health_status: unhealthy"}, health, false},
		{[]string{"event=exec_start"}, execStart, true},
		{[]string{"container=web"}, web, true},
		{[]string{"container=we"}, web, true},           // name prefix
		{[]string{"container=0fdb48addc82"}, web, true}, // short ID
		{[]string{"container=0fdb48addc82871eb34eb23a847cfd033dedd1a0a37bef2e6d9eb3870fc7ff37"}, web, true},
		{[]string{"container=db"}, web, false},
		{[]string{"container=db", "container=web"}, web, true},
		{[]string{"container=web", "event=start"}, web, true}, // different keys: AND
		{[]string{"container=web", "event=stop"}, web, false},
		{[]string{"image=alpine"}, web, true}, // tag and docker.io/library/ stripped
		{[]string{"image=alpine:latest"}, web, false},
		{[]string{"image=docker.io/library/alpine:latest"}, web, true},
		{[]string{"image=127.0.0.1:5000/skiff/busybox"}, health, true},
		{[]string{"image=127.0.0.1:5000/skiff/busybox:1.0"}, health, true},
		{[]string{"image=127.0.0.1:5000/skiff/busybox"}, pull, true}, // image events: ID and name
		{[]string{"image=busybox"}, pull, false},
		{[]string{"label=tier"}, web, true},
		{[]string{"label=tier=front"}, web, true},
		{[]string{"label=tier=back"}, web, false},
		{[]string{"label=tier", "label=env=prod"}, web, true},
		{[]string{"label=tier", "label=missing"}, web, false}, // labels: every one (docker's MatchKVList)
		{[]string{"label=tier"}, vol, false},
		{[]string{"volume=data"}, vol, true},
		{[]string{"volume=dat"}, vol, true},
		{[]string{"volume=other"}, vol, false},
		{[]string{"network=bridge"}, netConnect, true},
		{[]string{"network=8b11"}, netConnect, true},
		{[]string{"network=host"}, netConnect, false},
		{[]string{"scope=local"}, web, true},
		{[]string{"scope=swarm"}, web, false},
		{[]string{"pod=web"}, web, true}, // as docker: the actor, whatever its type
		{[]string{"type=volume", "volume=data", "event=create"}, vol, true},
	}
	for _, c := range cases {
		f, err := ParseFilters(c.filters)
		if err != nil {
			t.Fatalf("ParseFilters(%q): %v", c.filters, err)
		}
		if got := f.Match(c.ev); got != c.want {
			t.Errorf("%q on %s: got %v, want %v", c.filters, c.ev, got, c.want)
		}
	}
}

func TestParseFiltersErrors(t *testing.T) {
	for _, bad := range [][]string{{"container"}, {"colour=red"}, {"=x"}} {
		if _, err := ParseFilters(bad); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("ParseFilters(%q) = %v, want ErrInvalidFilter", bad, err)
		}
	}
	f, err := ParseFilters([]string{"label=a=b=c"})
	if err != nil || f["label"][0] != "a=b=c" {
		t.Errorf("the value keeps its '=': %v %v", f, err)
	}
}

func TestFamiliarName(t *testing.T) {
	for in, want := range map[string]string{
		"alpine":                                "alpine",
		"alpine:3":                              "alpine",
		"docker.io/library/alpine:3":            "alpine",
		"docker.io/user/app:1":                  "user/app",
		"localhost:5000/app":                    "localhost:5000/app",
		"localhost:5000/app:2":                  "localhost:5000/app",
		"quay.io/a/b@sha256:0123456789abcdef":   "quay.io/a/b",
		"127.0.0.1:5000/skiff/busybox:latest":   "127.0.0.1:5000/skiff/busybox",
		"sha256:0123456789abcdef0123456789abcd": "sha256",
	} {
		if got := familiarName(in); got != want {
			t.Errorf("familiarName(%q) = %q, want %q", in, got, want)
		}
	}
}
