package test

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// subStart is the first id of the user's subordinate range in /etc/subuid,
// so that tests hold for any test user (SKIFF_TEST_USER), not only the one
// test/setup.sh makes.
func (e *env) subStart(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/etc/subuid")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 3 && (f[0] == e.user.Username || f[0] == e.user.Uid) {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("/etc/subuid: %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("/etc/subuid has no range for %s", e.user.Username)
	return 0
}
