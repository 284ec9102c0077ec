package events

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"time"
)

// orderSlack bounds how much older than an earlier line a line of the log
// may be (see "Time order and --since" in the package documentation).
const orderSlack = time.Second

// linearBelow is the span the bisection leaves to the line-by-line scan.
const linearBelow = 4096

// lineTime is the timeNano of a line as Append writes it (the object's last
// member, `"timeNano":N}`), without decoding the rest; ok is false for a
// line of another shape, which the caller decodes.
func lineTime(line []byte) (ns int64, ok bool) {
	const key = `"timeNano":`
	i := bytes.LastIndex(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	digits := line[i+len(key):]
	if len(digits) < 2 || digits[len(digits)-1] != '}' {
		return 0, false
	}
	digits = digits[:len(digits)-1]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		ns = ns*10 + int64(c-'0')
	}
	return ns, true
}

// eventTime is a line's time, decoding it when lineTime cannot.
func eventTime(line []byte) (int64, bool) {
	if ns, ok := lineTime(line); ok {
		return ns, true
	}
	var ev Event
	if json.Unmarshal(line, &ev) != nil {
		return 0, false
	}
	return ev.When().UnixNano(), true
}

// seekTime returns an offset of f, at the start of a line, before which
// every line is older than t (given that lines are ordered within
// orderSlack). It bisects [0, size) on line boundaries, moving its answer
// only past a line older than t-orderSlack.
func seekTime(f *os.File, size int64, t int64) (int64, error) {
	target := t - int64(orderSlack)
	lo, hi := int64(0), size
	var buf []byte
	for hi-lo > linearBelow {
		mid := lo + (hi-lo)/2
		start, line, err := lineFrom(f, mid, size, &buf)
		if err != nil {
			return 0, err
		}
		if line == nil || start >= hi {
			hi = mid
			continue
		}
		if ns, ok := eventTime(line); ok && ns < target {
			lo = start + int64(len(line)) + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// lineFrom returns the first complete line of f that starts at or after
// off (a line starts at 0 or after a '\n'), and its offset; line is nil when
// there is none before size.
func lineFrom(f *os.File, off, size int64, buf *[]byte) (int64, []byte, error) {
	if off > 0 {
		nl, err := indexByteAt(f, off-1, size, buf)
		if err != nil || nl < 0 {
			return 0, nil, err
		}
		off = nl + 1
	}
	nl, err := indexByteAt(f, off, size, buf)
	if err != nil || nl < 0 {
		return 0, nil, err
	}
	line := make([]byte, nl-off)
	if _, err := f.ReadAt(line, off); err != nil {
		return 0, nil, err
	}
	return off, line, nil
}

// indexByteAt is the offset of the first '\n' at or after off, or -1.
func indexByteAt(f *os.File, off, size int64, buf *[]byte) (int64, error) {
	if *buf == nil {
		*buf = make([]byte, 2048)
	}
	for off < size {
		n, err := f.ReadAt((*buf)[:min(int64(len(*buf)), size-off)], off)
		if i := bytes.IndexByte((*buf)[:n], '\n'); i >= 0 {
			return off + int64(i), nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	return -1, nil
}
