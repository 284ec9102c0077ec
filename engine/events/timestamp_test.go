package events

import (
	"errors"
	"testing"
	"time"
)

// The cases are those moby's timestamp tests give GetTimestamp and
// ParseTimestamps (api/types/time), each as the time the daemon ends with.
func TestParseTime(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	cases := []struct {
		in        string
		sec, nsec int64
		bad       bool
	}{
		{in: "2006-01-02T15:04:05.999999999+07:00", sec: 1136189045, nsec: 999999999},
		{in: "2006-01-02T15:04:05.999999999Z", sec: 1136214245, nsec: 999999999},
		{in: "2006-01-02T15:04:05.999999999", sec: 1136214245, nsec: 999999999}, // now's zone
		{in: "2006-01-02T15:04:05Z", sec: 1136214245},
		{in: "2006-01-02T15:04:05", sec: 1136214245},
		{in: "2006-01-02T15:04:0Z", bad: true},
		{in: "2006-01-02T15:04:0", bad: true},
		{in: "2006-01-02T15:04Z", sec: 1136214240},
		{in: "2006-01-02T15:04+00:00", sec: 1136214240},
		{in: "2006-01-02T15:04-00:00", sec: 1136214240},
		{in: "2006-01-02T15:04", sec: 1136214240},
		{in: "2006-01-02T15:0Z", bad: true},
		{in: "2006-01-02T15Z", sec: 1136214000},
		{in: "2006-01-02T15+00:00", sec: 1136214000},
		{in: "2006-01-02T15-00:00", sec: 1136214000},
		{in: "2006-01-02T15", sec: 1136214000},
		{in: "2006-01-02T1Z", sec: 1136163600},
		{in: "2006-01-02T1", sec: 1136163600},
		{in: "2006-01-02TZ", bad: true},
		{in: "2006-01-02T", bad: true},
		{in: "2006-01-02+00:00", sec: 1136160000},
		{in: "2006-01-02-00:00", sec: 1136160000},
		{in: "2006-01-02-00:01", sec: 1136160060},
		{in: "2006-01-02Z", sec: 1136160000},
		{in: "2006-01-02", sec: 1136160000},
		{in: "2015-05-13T20:39:09Z", sec: 1431549549},
		{in: "1136073600", sec: 1136073600},
		{in: "0", sec: 0}, // a timestamp, not a duration
		{in: "1136073600.000000001", sec: 1136073600, nsec: 1},
		{in: "1136073600.5", sec: 1136073600, nsec: 500000000},
		{in: "1136073600.0000000010", sec: 1136073600, nsec: 1},
		{in: "1136073600.0000000009", sec: 1136073600, nsec: 0},
		{in: "1136073600.00000001", sec: 1136073600, nsec: 10},
		{in: "1m", sec: now.Add(-time.Minute).Unix()}, // whole seconds, as docker/cli sends it
		{in: "1.5h", sec: now.Add(-90 * time.Minute).Unix()},
		{in: "1h30m", sec: now.Add(-90 * time.Minute).Unix()},
		{in: "-10m", sec: now.Add(10 * time.Minute).Unix()},
		{in: "foo.bar", bad: true},
		{in: "1136073600.bar", bad: true},
		{in: "invalid", bad: true},
		{in: "", bad: true},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in, now)
		if c.bad {
			if err == nil || !errors.Is(err, ErrInvalidTime) {
				t.Errorf("ParseTime(%q) = %v, %v; want an ErrInvalidTime", c.in, got, err)
			}
			continue
		}
		if err != nil || got.Unix() != c.sec || int64(got.Nanosecond()) != c.nsec {
			t.Errorf("ParseTime(%q) = %d.%09d, %v; want %d.%09d", c.in, got.Unix(), got.Nanosecond(), err, c.sec, c.nsec)
		}
	}
}

func TestParseTimeMessages(t *testing.T) {
	_, err := ParseTime("yesterday", time.Now())
	if want := `failed to parse value as time or duration: "yesterday"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want docker's %q", err, want)
	}
}

func TestParseTimeLocalZone(t *testing.T) {
	// Without a zone the value is in now's zone.
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	got, err := ParseTime("2024-01-01T10:00:00", now)
	if err != nil || got.Unix() != time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("got %v, %v", got, err)
	}
}
