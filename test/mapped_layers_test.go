package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// graphRootBytes is the size of the env's image store on disk, counted
// by du as root (an id-mapped copy is owned by subordinate ids).
func graphRootBytes(t *testing.T, e *env) int64 {
	t.Helper()
	out, err := exec.Command("du", "-sb", filepath.Join(e.home, ".local", "share", "skiff", "storage")).Output()
	if err != nil {
		t.Fatalf("du: %v", err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatalf("du printed %q", out)
	}
	return n
}

// overlayLayers lists the layer directories of the env's overlay store.
func overlayLayers(t *testing.T, e *env) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.home, ".local", "share", "skiff", "storage", "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range entries {
		if len(d.Name()) == 64 {
			out = append(out, d.Name())
		}
	}
	return out
}

// TestIDMappedLayerCopiesGoWithTheirContainers: each id mapping
// (--userns keep-id, auto, --uidmap) makes the store copy the image's
// layer chowned for it (idmapped mounts are refused rootless on this
// kernel); the copy belongs to the containers that use it, is not
// counted as the image's size, and is deleted with the last of them, so
// that the store is back to its size once they are removed.
func TestIDMappedLayerCopiesGoWithTheirContainers(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "--rm", busybox, "true") // whatever a first run leaves
	size := strings.TrimSpace(e.ok("images", "--format", "{{.Size}}", busybox))
	baseBytes, baseLayers := graphRootBytes(t, e), overlayLayers(t, e)
	df := e.ok("system", "df", "--format", "{{.Type}} {{.Size}}")

	mappings := [][]string{{"--userns", "keep-id"}, {"--userns", "auto"}, {"--uidmap", "0:1:1000", "--gidmap", "0:1:1000"}}
	for i, m := range mappings {
		args := append([]string{"run", "-d", "--name", "mapped" + strconv.Itoa(i)}, m...)
		e.ok(append(args, busybox, "sleep", "300")...)
		// A second container of the same mapping shares the copy.
		e.ok(append(append([]string{"run", "--rm"}, m...), busybox, "true")...)
	}
	if got := strings.TrimSpace(e.ok("images", "--format", "{{.Size}}", busybox)); got != size {
		t.Fatalf("with mapped containers the image's size is %s, was %s: the copies are counted as the image's", got, size)
	}
	if n := len(overlayLayers(t, e)); n < len(baseLayers)+2*len(mappings) {
		t.Fatalf("%d layers with %d mapped containers, %d before: expected a copy and a container layer each", n, len(mappings), len(baseLayers))
	}
	// The image is in use: rmi refuses, and removes nothing.
	if r := e.run("rmi", busybox); r.code == 0 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("rmi of an image in use\n%s", r)
	}
	e.ok("rm", "-f", "mapped0", "mapped1", "mapped2")

	if got := overlayLayers(t, e); len(got) != len(baseLayers) {
		t.Fatalf("after rm, %d layers (%v), %d before: id-mapped copies left behind", len(got), got, len(baseLayers))
	}
	if grown := graphRootBytes(t, e) - baseBytes; grown > 256<<10 {
		t.Fatalf("after rm the store is %d bytes larger than before the mapped runs", grown)
	}
	if got := strings.TrimSpace(e.ok("images", "--format", "{{.Size}}", busybox)); got != size {
		t.Fatalf("after rm the image's size is %s, was %s", got, size)
	}
	if got := e.ok("system", "df", "--format", "{{.Type}} {{.Size}}"); got != df {
		t.Fatalf("system df after rm:\n%s\nbefore the mapped runs:\n%s", got, df)
	}
	e.ok("rmi", busybox)
	if got := overlayLayers(t, e); len(got) != 0 {
		t.Fatalf("after rmi, layers left: %v", got)
	}
}
