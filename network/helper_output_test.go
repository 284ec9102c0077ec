package network

import "testing"

// TestHelperText: a failed helper's own words, on one line, wherever it
// put them.
func TestHelperText(t *testing.T) {
	for _, c := range []struct {
		stdout, stderr, want string
	}{
		// netavark: {"error"} on stdout, logs on stderr.
		{`{"error":"No such file or directory (os error 2)"}` + "\n", "[INFO  netavark] setting up\n", "No such file or directory (os error 2)"},
		{"", `{"error": "IO error: address in use"}`, "IO error: address in use"},
		// pasta: the complaint first, a usage text after; syslog noise.
		{"", "Failed to send 33 bytes to syslog\nInvalid address: 300.1.1.1\nUsage: pasta ...\n", "Invalid address: 300.1.1.1"},
		{"Usage: slirp4netns ...\n", "MTU must be a positive integer (< 65522)\n", "MTU must be a positive integer (< 65522)"},
		{"only on stdout\n", "", "only on stdout"},
		{"", "", ""},
		{`{"error":"first\nsecond"}`, "", "first; second"},
	} {
		if got := helperText([]byte(c.stdout), []byte(c.stderr)); got != c.want {
			t.Errorf("helperText(%q, %q) = %q, want %q", c.stdout, c.stderr, got, c.want)
		}
	}
}
