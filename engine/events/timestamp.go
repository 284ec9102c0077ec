package events

import (
	"strconv"
	"strings"
	"time"
)

// Layouts docker accepts besides RFC3339 and RFC3339Nano (moby
// api/types/time/timestamp.go).
const (
	rfc3339Local     = "2006-01-02T15:04:05"
	rfc3339NanoLocal = "2006-01-02T15:04:05.999999999"
	dateWithZone     = "2006-01-02Z07:00"
	dateLocal        = "2006-01-02"
)

// ParseTime reads a --since or --until value as `docker events` does
// (docker/cli hands the value to moby's GetTimestamp, the daemon parses the
// result with ParseTimestamps):
//
//   - a Go duration ("10m", "1h30m") is that long before now, in whole
//     seconds as docker computes it ("0" is the Unix timestamp 0, not a
//     duration);
//   - an RFC3339 or RFC3339Nano time, or one of 2006-01-02T15,
//     2006-01-02T15:04, 2006-01-02T15:04:05[.999999999], 2006-01-02 and
//     2006-01-02Z07:00; without a Z or an offset it is in now's zone;
//   - a Unix timestamp, seconds[.fraction] (the fraction is read as
//     nanoseconds: at most nine digits count).
func ParseTime(value string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(value); value != "0" && err == nil {
		return time.Unix(now.Add(-d).Unix(), 0), nil
	}

	// With a Z, a + or three dashes (a date and a negative offset) the value
	// names its zone; otherwise it is read in now's.
	inLocation := !strings.ContainsAny(value, "zZ+") && strings.Count(value, "-") != 3
	var layout string
	switch {
	case strings.Contains(value, "."):
		layout = time.RFC3339Nano
		if inLocation {
			layout = rfc3339NanoLocal
		}
	case strings.Contains(value, "T"):
		colons := strings.Count(value, ":")
		if !inLocation && !strings.ContainsAny(value, "zZ") && colons > 0 {
			colons-- // the one in the zone offset
		}
		layout = [2][3]string{
			{"2006-01-02T15Z07:00", "2006-01-02T15:04Z07:00", time.RFC3339},
			{"2006-01-02T15", "2006-01-02T15:04", rfc3339Local},
		}[b2i(inLocation)][min(colons, 2)]
	case inLocation:
		layout = dateLocal
	default:
		layout = dateWithZone
	}

	var t time.Time
	var err error
	if inLocation {
		t, err = time.ParseInLocation(layout, value, time.FixedZone(now.Zone()))
	} else {
		t, err = time.Parse(layout, value)
	}
	if err == nil {
		return t, nil
	}
	if strings.Contains(value, "-") {
		// A date that did not parse: docker reports the parser's error.
		return time.Time{}, &timeError{err.Error()}
	}
	sec, nsec, ok := parseUnix(value)
	if !ok {
		return time.Time{}, &timeError{"failed to parse value as time or duration: " + strconv.Quote(value)}
	}
	return time.Unix(sec, nsec), nil
}

// parseUnix reads seconds[.fraction] (moby parseTimestamp).
func parseUnix(value string) (sec, nsec int64, ok bool) {
	s, frac, hasFrac := strings.Cut(value, ".")
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if !hasFrac {
		return sec, 0, true
	}
	n, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || n < 0 {
		return 0, 0, false
	}
	// Scale the fraction to nanoseconds: "5" is half a second; digits past
	// the ninth are dropped.
	for i := len(frac); i < 9; i++ {
		n *= 10
	}
	for i := len(frac); i > 9; i-- {
		n /= 10
	}
	return sec, n, true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// timeError keeps docker's wording and still matches ErrInvalidTime.
type timeError struct{ msg string }

func (e *timeError) Error() string { return e.msg }
func (e *timeError) Unwrap() error { return ErrInvalidTime }
