package test

import (
	"sort"
	"strings"
	"testing"
)

// prefixes sorts ids by their first character: one that starts only one
// id, and one that starts several ("" when there is none yet).
func prefixes(ids []string) (unique, shared string) {
	count := map[string]int{}
	for _, id := range ids {
		count[id[:1]]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if count[k] == 1 && unique == "" {
			unique = k
		}
		if count[k] > 1 && shared == "" {
			shared = k
		}
	}
	return unique, shared
}

// TestOneCharacterIDPrefix: as docker, any unique prefix of an id names a
// container, an image or a network, one character too; a prefix of several
// is refused with one line that says it is ambiguous, and changes nothing.
func TestOneCharacterIDPrefix(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	var ids []string
	unique, shared := "", ""
	for len(ids) < 40 && (unique == "" || shared == "") {
		ids = append(ids, strings.TrimSpace(e.ok("create", busybox, "true")))
		unique, shared = prefixes(ids)
	}
	if unique == "" || shared == "" {
		t.Fatalf("no unique and shared first characters among %v", ids)
	}
	var want string
	for _, id := range ids {
		if id[:1] == unique {
			want = id
		}
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.Id}}", unique)); got != want {
		t.Fatalf("inspect %s: %s, want %s", unique, got, want)
	}
	before := e.ok("ps", "-aq", "--no-trunc")
	r := e.run("rm", "-f", shared)
	if r.code == 0 || !strings.Contains(r.stderr, "ambiguous") || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 {
		t.Fatalf("rm -f of an ambiguous prefix\n%s", r)
	}
	if after := e.ok("ps", "-aq", "--no-trunc"); after != before {
		t.Fatalf("an ambiguous rm changed the containers:\n%s\n%s", before, after)
	}
	e.fails(125, `ambiguous container id prefix: `+shared, "inspect", shared)
	if out := strings.TrimSpace(e.ok("rm", "-f", unique)); out != unique {
		t.Fatalf("rm -f %s printed %q", unique, out)
	}
	if strings.Contains(e.ok("ps", "-aq", "--no-trunc"), want) {
		t.Fatalf("rm -f %s left %s", unique, want)
	}
	e.ok("rm", "-f", "-a")

	// Images: a one-character prefix of the only image.
	img := strings.TrimPrefix(strings.TrimSpace(e.ok("image", "inspect", "--format", "{{.Id}}", busybox)), "sha256:")
	if got := strings.TrimPrefix(strings.TrimSpace(e.ok("image", "inspect", "--format", "{{.Id}}", img[:1])), "sha256:"); got != img {
		t.Fatalf("image inspect %s: %s, want %s", img[:1], got, img)
	}
	e.ok("tag", busybox, plainRegistry+"/skiff/other:1")
	e.ok("rmi", "-f", img[:1])
	if out := e.ok("images", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("rmi -f %s left images: %s", img[:1], out)
	}

	// Networks.
	var nets []string
	unique, shared = "", ""
	for i := 0; len(nets) < 40 && (unique == "" || shared == ""); i++ {
		name := "prefixnet" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		e.ok("network", "create", name)
		nets = append(nets, strings.TrimSpace(e.ok("network", "inspect", "--format", "{{.ID}}", name)))
		unique, shared = prefixes(nets)
	}
	if unique == "" || shared == "" {
		t.Fatalf("no unique and shared first characters among %v", nets)
	}
	for _, id := range nets {
		if id[:1] == unique {
			want = id
		}
	}
	if got := strings.TrimSpace(e.ok("network", "inspect", "--format", "{{.ID}}", unique)); got != want {
		t.Fatalf("network inspect %s: %s, want %s", unique, got, want)
	}
	r = e.run("network", "inspect", shared)
	if r.code == 0 || !strings.Contains(r.stderr, "ambiguous") {
		t.Fatalf("network inspect of an ambiguous prefix\n%s", r)
	}
}
