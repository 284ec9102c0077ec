package events

import (
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
)

// Event is one line of the log and one object of `events --format json`.
//
// It is the Engine API's events.Message with the three fields docker still
// emits for container and image events ("status", "id", "from"; API < 1.52,
// docker 28's `docker events --format '{{json .}}'`) in front, so that its
// JSON has docker's field names in docker's order:
//
//	{"status":"start","id":"…","from":"busybox","Type":"container","Action":"start",
//	 "Actor":{"ID":"…","Attributes":{"image":"busybox","name":"web"}},
//	 "scope":"local","time":1700000000,"timeNano":1700000000123456789}
//
// Templates see the fields docker's do: .Type, .Action, .Actor.ID,
// .Actor.Attributes, .Scope, .Time, .TimeNano, .Status, .ID, .From.
type Event struct {
	Status string `json:"status,omitempty"` // deprecated by docker: Action
	ID     string `json:"id,omitempty"`     // deprecated by docker: Actor.ID
	From   string `json:"from,omitempty"`   // deprecated by docker: Actor.Attributes["image"]
	events.Message
}

// New returns the event of an action on one object. Attributes carry the
// object's name ("name"), a container's image ("image") and labels, and
// whatever else docker reports for the action (exitCode, signal, …).
func New(typ events.Type, action events.Action, id string, attributes map[string]string) Event {
	if attributes == nil {
		attributes = map[string]string{}
	}
	return Event{Message: events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attributes}}}
}

// stamp sets what the log, not the caller, decides: the scope, the
// deprecated fields as docker's daemon fills them (moby daemon/events
// Events.Log: container events get all three, image events status and id),
// and no time yet (Append adds it under the lock).
func (e *Event) stamp() {
	e.Scope = "local"
	e.Status, e.ID, e.From = "", "", ""
	switch e.Type {
	case events.ContainerEventType:
		e.Status, e.ID, e.From = string(e.Action), e.Actor.ID, e.Actor.Attributes["image"]
	case events.ImageEventType:
		e.Status, e.ID = string(e.Action), e.Actor.ID
	}
	if e.Actor.Attributes == nil {
		e.Actor.Attributes = map[string]string{}
	}
	e.Time, e.TimeNano = 0, 0
}

// When is the event's time.
func (e Event) When() time.Time {
	if e.TimeNano != 0 {
		return time.Unix(0, e.TimeNano)
	}
	return time.Unix(e.Time, 0)
}

// rfc3339NanoFixed is docker's event time layout: RFC3339Nano with the
// nanoseconds padded to a fixed width.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// String is the line `docker events` prints without --format (docker/cli
// prettyPrintEvent), without the newline:
//
//	2017-01-05T00:35:58.859401177+08:00 container create 0fdb…ff37 (image=alpine:latest, name=test)
func (e Event) String() string {
	var b strings.Builder
	if e.TimeNano != 0 || e.Time != 0 {
		b.WriteString(e.When().Format(rfc3339NanoFixed))
		b.WriteByte(' ')
	}
	b.WriteString(string(e.Type) + " " + string(e.Action) + " " + e.Actor.ID)
	if len(e.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(e.Actor.Attributes))
		for k := range e.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + "=" + e.Actor.Attributes[k])
		}
		b.WriteByte(')')
	}
	return b.String()
}
