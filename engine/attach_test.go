package engine

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseDetachKeys(t *testing.T) {
	for spec, want := range map[string]string{"ctrl-p,ctrl-q": "\x10\x11", "ctrl-a,d": "\x01d", "ctrl-@,ctrl-_": "\x00\x1f", "": ""} {
		got, err := ParseDetachKeys(spec)
		if err != nil || string(got) != want {
			t.Errorf("%q: %q, %v; want %q", spec, got, err, want)
		}
	}
	for _, bad := range []string{"ctrl-1", "ab", "ctrl-", "x,,y"} {
		if _, err := ParseDetachKeys(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The keys end the copy and are not passed on; a sequence cut short is,
// whole, also across reads.
func TestCopyUntilKeys(t *testing.T) {
	keys := []byte("\x10\x11")
	for _, tc := range []struct {
		in, out  string
		detached bool
	}{
		{"hello\n\x10\x11after", "hello\n", true},
		{"a\x10b\x10\x10\x11", "a\x10b\x10", true},
		{"no keys\n", "no keys\n", false},
		{"ends in half\x10", "ends in half\x10", false},
	} {
		var out bytes.Buffer
		// One byte a read: matches cross reads.
		detached := copyUntilKeys(&out, iotest.OneByteReader(strings.NewReader(tc.in)), keys)
		if out.String() != tc.out || detached != tc.detached {
			t.Errorf("%q: wrote %q, detached %v; want %q, %v", tc.in, out.String(), detached, tc.out, tc.detached)
		}
	}
	var out bytes.Buffer
	if copyUntilKeys(&out, strings.NewReader("x\x10\x11y"), nil); out.String() != "x\x10\x11y" {
		t.Errorf("no keys: %q", out.String())
	}
}
