package test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noSearchRegistries replaces the env's registries.conf with one that
// names no unqualified-search registry: short names can only mean local
// images (or fail to pull).
func noSearchRegistries(e *env) {
	e.writeFile("home/.config/containers/registries.conf", `short-name-mode = "permissive"

[[registry]]
location = "`+plainRegistry+`"
insecure = true
`)
}

// rewriteTarEntry copies the tar archive at path with the entry named
// name (with or without "./") replaced by what edit makes of it.
func rewriteTarEntry(t *testing.T, path, name string, edit func([]byte) []byte) {
	t.Helper()
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(in)), tar.NewWriter(&out)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			data, found = edit(data), true
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s has no %s", path, name)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// usableByShortName checks that a short name reaches its image through
// run, inspect and rmi, with no search registry to fall back on, and that
// `images` lists it as localhost/REPO.
func usableByShortName(t *testing.T, e *env, short, full string) {
	t.Helper()
	if got := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(got, full+"\n") {
		t.Fatalf("images does not list %s:\n%s", full, got)
	}
	if got := e.ok("run", "--rm", short, "echo", "ran"); got != "ran\n" {
		t.Fatalf("run %s printed %q", short, got)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{json .RepoTags}}", short)); !strings.Contains(got, `"`+full+`"`) {
		t.Fatalf("inspect %s: RepoTags %s, want %s", short, got, full)
	}
	if out := e.ok("rmi", short); !strings.Contains(out, "Untagged: "+full) {
		t.Fatalf("rmi %s: %q", short, out)
	}
	if got := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(got, full+"\n") {
		t.Fatalf("after rmi %s, images still lists %s:\n%s", short, full, got)
	}
}

// TestShortLocalNamesLiveUnderLocalhost: a short name given to an image
// made or named here (tag, commit, import, load of a docker-archive or an
// oci-archive) is localhost/NAME, as podman names it, and is found again by
// that short name with no unqualified-search registry configured.
func TestShortLocalNamesLiveUnderLocalhost(t *testing.T) {
	e := newEnv(t)
	noSearchRegistries(e)
	bbID := strings.TrimSpace(e.ok("pull", "-q", busybox))

	// tag
	e.ok("tag", busybox, "myapp:1")
	e.ok("tag", bbID, "library/nested")
	if got := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(got, "localhost/library/nested:latest") {
		t.Fatalf("tag library/nested:\n%s", got)
	}
	e.ok("untag", bbID, "library/nested")
	usableByShortName(t, e, "myapp:1", "localhost/myapp:1")

	// commit
	e.ok("run", "--name", "src", busybox, "sh", "-c", "echo committed > /marker")
	e.ok("commit", "src", "committed")
	if got := e.ok("run", "--rm", "committed", "cat", "/marker"); got != "committed\n" {
		t.Fatalf("run of the committed image: %q", got)
	}
	e.ok("rm", "src")
	usableByShortName(t, e, "committed", "localhost/committed:latest")

	// import
	r := e.sh(`mkdir -p rootfs/bin && cp /bin/busybox rootfs/bin/ && ln -s busybox rootfs/bin/echo && ln -s busybox rootfs/bin/sh && tar -C rootfs -cf rootfs.tar . && "$SKIFF" import rootfs.tar imported:v1`)
	if r.code != 0 {
		t.Fatalf("import\n%s", r)
	}
	usableByShortName(t, e, "imported:v1", "localhost/imported:v1")

	// load: a docker-archive skiff wrote of a local image, round trip.
	e.ok("tag", busybox, "roundtrip:2")
	archive := filepath.Join(e.root, "work", "docker.tar")
	e.ok("save", "-o", archive, "roundtrip:2")
	e.ok("rmi", "roundtrip:2")
	if out := e.ok("load", "-i", archive); !strings.Contains(out, "Loaded image: localhost/roundtrip:2") {
		t.Fatalf("load of a docker-archive: %q", out)
	}
	usableByShortName(t, e, "roundtrip:2", "localhost/roundtrip:2")

	// load: a docker-archive as docker writes it, with a short RepoTag.
	e.ok("tag", busybox, "dockerstyle:3")
	archive = filepath.Join(e.root, "work", "docker-short.tar")
	e.ok("save", "-o", archive, "dockerstyle:3")
	e.ok("rmi", "dockerstyle:3")
	rewriteTarEntry(t, archive, "manifest.json", func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte(`"localhost/dockerstyle:3"`), []byte(`"dockerstyle:3"`))
	})
	e.chownAll()
	if out := e.ok("load", "-i", archive); !strings.Contains(out, "Loaded image: localhost/dockerstyle:3") {
		t.Fatalf("load of a docker-archive with a short tag: %q", out)
	}
	usableByShortName(t, e, "dockerstyle:3", "localhost/dockerstyle:3")

	// load: an oci-archive whose ref name is a bare tag, "latest".
	oci := filepath.Join(e.root, "work", "oci.tar")
	e.ok("save", "--format", "oci-archive", "-o", oci, bbID)
	rewriteTarEntry(t, oci, "index.json", func(b []byte) []byte {
		var idx map[string]any
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		m := idx["manifests"].([]any)[0].(map[string]any)
		m["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "latest"}
		out, _ := json.Marshal(idx)
		return out
	})
	e.chownAll()
	if out := e.ok("load", "-i", oci); !strings.Contains(out, "Loaded image: localhost/latest:latest") {
		t.Fatalf("load of an oci-archive named latest: %q", out)
	}
	usableByShortName(t, e, "latest", "localhost/latest:latest")

	// A short name that is nowhere is still an error, not a pull from
	// docker.io.
	e.fails(125, `nosuchapp`, "run", "--rm", "nosuchapp:9", "true")
	// docker.io names keep docker's meaning.
	e.ok("tag", busybox, "docker.io/dockerio")
	if got := e.ok("images", "--format", "{{.Repository}}"); !strings.Contains(got, "docker.io/library/dockerio\n") {
		t.Fatalf("tag docker.io/dockerio:\n%s", got)
	}
	if got := e.ok("run", "--rm", "dockerio", "echo", "hub"); got != "hub\n" {
		t.Fatalf("run of a docker.io/library image by its short name: %q", got)
	}
}
