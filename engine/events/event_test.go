package events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// fixedClock stamps every event with the same time.
func fixedClock(ns int64) func() time.Time { return func() time.Time { return time.Unix(0, ns) } }

// The log's lines are what `docker events --format '{{json .}}'` prints
// (docker 28, API 1.50: the deprecated status/id/from first, for container
// and image events only).
func TestLineIsDockerJSON(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	l.now = fixedClock(1700000000123456789)
	id := "0fdb48addc82871eb34eb23a847cfd033dedd1a0a37bef2e6d9eb3870fc7ff37"
	must(t, l.Append(New(events.ContainerEventType, events.ActionStart, id, map[string]string{"name": "web", "image": "busybox"})))
	must(t, l.Append(New(events.ImageEventType, events.ActionPull, "busybox:latest", map[string]string{"name": "busybox:latest"})))
	must(t, l.Append(New(events.VolumeEventType, events.ActionCreate, "data", nil)))
	must(t, l.Close())
	b, err := os.ReadFile(l.Path())
	must(t, err)
	want := `{"status":"start","id":"` + id + `","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"` + id + `","Attributes":{"image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}
{"status":"pull","id":"busybox:latest","Type":"image","Action":"pull","Actor":{"ID":"busybox:latest","Attributes":{"name":"busybox:latest"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}
{"Type":"volume","Action":"create","Actor":{"ID":"data","Attributes":{}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}
`
	if string(b) != want {
		t.Errorf("log:\n%s\nwant:\n%s", b, want)
	}
	// And a line reads back into the same event; its JSON is the line.
	var ev Event
	must(t, json.Unmarshal([]byte(strings.SplitN(want, "\n", 2)[0]), &ev))
	if ev.Status != "start" || ev.Actor.Attributes["name"] != "web" || ev.TimeNano != 1700000000123456789 || ev.Time != 1700000000 {
		t.Errorf("decoded %+v", ev)
	}
	again, _ := json.Marshal(ev)
	if string(again) != strings.SplitN(want, "\n", 2)[0] {
		t.Errorf("re-encoded:\n%s", again)
	}
}

func TestAppendOverridesCallerStamp(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	l.now = fixedClock(5e9)
	ev := New(events.ContainerEventType, events.ActionDie, "c1", map[string]string{"image": "img"})
	ev.TimeNano, ev.Time, ev.Scope, ev.Status = 1, 1, "swarm", "bogus"
	must(t, l.Append(ev))
	got := readAll(t, l, Options{})
	if len(got) != 1 || got[0].TimeNano != 5e9 || got[0].Time != 5 || got[0].Scope != "local" || got[0].Status != "die" || got[0].From != "img" {
		t.Errorf("got %+v", got)
	}
}

func TestEventString(t *testing.T) {
	ev := New(events.ContainerEventType, events.ActionKill, "0fdb", map[string]string{"signal": "15", "name": "test", "image": "alpine:latest"})
	ev.TimeNano = time.Date(2017, 1, 5, 0, 36, 9, 830268747, time.UTC).UnixNano()
	old := time.Local
	time.Local = time.FixedZone("", 8*3600)
	defer func() { time.Local = old }()
	// docker events reference, "Basic example".
	want := "2017-01-05T08:36:09.830268747+08:00 container kill 0fdb (image=alpine:latest, name=test, signal=15)"
	if got := ev.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	ev = New(events.VolumeEventType, events.ActionCreate, "v", nil)
	if got := ev.String(); got != "volume create v" {
		t.Errorf("got %q", got)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
