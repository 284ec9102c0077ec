package network

import (
	"encoding/json"
	"strings"
)

// helperText is what a failed helper (netavark, aardvark-dns through it,
// pasta, slirp4netns) said about its failure, on one line: the "error" of
// the JSON object netavark writes on its standard output, else the first
// line of the helper's standard error, else of its standard output (what
// follows is usually a usage text). Complaints about a missing syslog and
// blank lines are passed over.
func helperText(stdout, stderr []byte) string {
	for _, out := range [][]byte{stdout, stderr} {
		if msg := jsonError(out); msg != "" {
			return msg
		}
	}
	if msg := firstLine(string(stderr)); msg != "" {
		return msg
	}
	return firstLine(string(stdout))
}

// firstLine is the first line of s that says something.
func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "to syslog") {
			return line
		}
	}
	return ""
}

// jsonError is the "error" member of the last JSON object in out, or "".
func jsonError(out []byte) string {
	s := strings.TrimSpace(string(out))
	for s != "" {
		i := strings.LastIndex(s, "{")
		if i < 0 {
			return ""
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(s[i:]), &e) == nil && e.Error != "" {
			return meaningfulLines(e.Error)
		}
		s = strings.TrimSpace(s[:i])
	}
	return ""
}

// meaningfulLines joins the lines of s that say something with "; ".
func meaningfulLines(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "to syslog") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "; ")
}
