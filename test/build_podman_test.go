package test

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Side by side with podman 4.3.1 (buildah 1.28), the same user, the same
// context: a corpus case built by each gives the same image configuration
// and the same file tree. Known differences are listed with their reason.

// corpusCase is a case's case.json (test/testdata/build/README.md).
type corpusCase struct {
	BuildArgs     map[string]string `json:"buildArgs"`
	Target        string            `json:"target"`
	Secrets       map[string]string `json:"secrets"`
	BuildContexts map[string]string `json:"buildContexts"`
	Podman431     string            `json:"podman431"`
}

// buildFlags are the flags a case is built with, by skiff and podman alike.
func (e *env) caseFlags(name string) []string {
	e.t.Helper()
	var c corpusCase
	if data, err := os.ReadFile(filepath.Join("testdata/build", name, "case.json")); err == nil {
		if err := json.Unmarshal(data, &c); err != nil {
			e.t.Fatalf("%s/case.json: %v", name, err)
		}
	}
	if c.Podman431 != "" {
		e.t.Skipf("podman 4.3.1 cannot build %s: %s", name, c.Podman431)
	}
	return e.flagsOf(name, c)
}

// caseFlagsAll are a case's flags, for skiff alone.
func (e *env) caseFlagsAll(name string) []string {
	e.t.Helper()
	var c corpusCase
	if data, err := os.ReadFile(filepath.Join("testdata/build", name, "case.json")); err == nil {
		if err := json.Unmarshal(data, &c); err != nil {
			e.t.Fatalf("%s/case.json: %v", name, err)
		}
	}
	return e.flagsOf(name, c)
}

func (e *env) flagsOf(name string, c corpusCase) []string {
	var flags []string
	for k, v := range c.BuildArgs {
		flags = append(flags, "--build-arg", k+"="+e.expandDigests(v))
	}
	if c.Target != "" {
		flags = append(flags, "--target", c.Target)
	}
	for id, src := range c.Secrets {
		flags = append(flags, "--secret", "id="+id+",src="+filepath.Join(name, src))
	}
	for n, dir := range c.BuildContexts {
		flags = append(flags, "--build-context", n+"="+filepath.Join(name, dir))
	}
	return flags
}

var digestTemplate = regexp.MustCompile(`\{\{(digest|config) ([^ }]+)\}\}`)

// expandDigests replaces {{digest REPO:TAG}} and {{config REPO:TAG}} with
// the manifest's and the config's digest in the local registry.
func (e *env) expandDigests(v string) string {
	return digestTemplate.ReplaceAllStringFunc(v, func(m string) string {
		sub := digestTemplate.FindStringSubmatch(m)
		repo, tag, _ := strings.Cut(sub[2], ":")
		req, _ := http.NewRequest("GET", "http://"+plainRegistry+"/v2/"+repo+"/manifests/"+tag, nil)
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if sub[1] == "digest" {
			sum := sha256.Sum256(body)
			return "sha256:" + hex.EncodeToString(sum[:])
		}
		var man struct{ Config struct{ Digest string } }
		json.Unmarshal(body, &man)
		return man.Config.Digest
	})
}

// imageConfig is what the comparison reads of an image's config blob.
type imageConfig struct {
	Healthcheck *struct {
		Test                                          []string
		Interval, Timeout, StartPeriod, StartInterval int64
		Retries                                       int
	}
	OnBuild      []string
	Shell        []string
	Env          []string
	Cmd          []string
	Entrypoint   []string
	WorkingDir   string
	User         string
	Labels       map[string]string
	ExposedPorts map[string]struct{}
	Volumes      map[string]struct{}
	StopSignal   string
}

// treeEntry is one file of an image's tree, as export gives it.
type treeEntry struct {
	Type       byte
	Mode       int64
	UID, GID   int
	Link, Hash string
}

func (t treeEntry) String() string {
	return fmt.Sprintf("type %c mode %o owner %d:%d link %q sha256 %.12s", t.Type, t.Mode, t.UID, t.GID, t.Link, t.Hash)
}

// exportTree is the file tree of an image: a container made of it,
// exported (the tool's own create and export).
func (e *env) exportTree(prog, image string) map[string]treeEntry {
	e.t.Helper()
	run := func(args ...string) string {
		if prog == "skiff" {
			return e.ok(args...)
		}
		return e.clientOK(prog, args...)
	}
	name := "tree-" + strings.NewReplacer("/", "-", ":", "-").Replace(image)
	run("create", "--name", name, image, "true")
	defer run("rm", name)
	out := filepath.Join(e.root, "work", name+".tar")
	run("export", "-o", out, name)
	f, err := os.Open(out)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	tree := map[string]treeEntry{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			e.t.Fatalf("reading %s's export: %v", prog, err)
		}
		ent := treeEntry{Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Link: h.Linkname}
		if ent.Type == tar.TypeRegA {
			ent.Type = tar.TypeReg
		}
		if ent.Type == tar.TypeReg {
			sum := sha256.New()
			io.Copy(sum, tr)
			ent.Hash = hex.EncodeToString(sum.Sum(nil))
		}
		tree["/"+strings.Trim(filepath.Clean("/"+h.Name), "/")] = ent
	}
	return tree
}

// savedConfig is the runtime configuration in an image's config blob, as
// the tool's own save (docker-archive) writes it: docker's Healthcheck,
// OnBuild and Shell included.
func (e *env) savedConfig(prog, image string) imageConfig {
	e.t.Helper()
	out := filepath.Join(e.root, "work", "saved.tar")
	os.Remove(out)
	if prog == "skiff" {
		e.ok("save", "-o", out, image)
	} else {
		e.clientOK(prog, "save", "--format", "docker-archive", "-o", out, image)
	}
	files := map[string][]byte{}
	f, err := os.Open(out)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if strings.HasSuffix(h.Name, ".json") {
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
	var man []struct{ Config string }
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil || len(man) != 1 {
		e.t.Fatalf("%s save: manifest.json %q: %v", prog, files["manifest.json"], err)
	}
	var blob struct{ Config imageConfig }
	if err := json.Unmarshal(files[man[0].Config], &blob); err != nil {
		e.t.Fatalf("%s save: the config blob: %v\n%s", prog, err, files[man[0].Config])
	}
	return blob.Config
}

// treeDifferences are paths that differ in every image with a RUN step.
var treeDifferences = map[string]string{
	"/etc/hosts":       "buildah leaves the empty mount point of its RUN's /etc/hosts (mode 0755) in the layer where the image had none; skiff, like buildkit, leaves none",
	"/etc/resolv.conf": "as /etc/hosts",
}

// caseTreeDifferences are the paths of a case whose entries differ, by case,
// with the reason.
var caseTreeDifferences = map[string]map[string]string{
	"run-mount-bind":   {"/in": "buildah 1.28 leaves the mount point of a RUN --mount target that the image lacked; skiff removes it, as buildkit and buildah since containers/buildah#6233 do"},
	"run-mount-secret": {"/run/secrets": "as run-mount-bind's /in"},
	"run-mount-cache": {
		"/listing": "lists a cache mount, where buildah keeps its own buildah-cache-lockfile",
		"/seen":    "counts the builds that used the cache mount: buildah keeps cache mounts in /var/tmp/buildah-cache-UID, shared by every store of the user, so its count depends on earlier builds; skiff's belong to the store",
	},
	"workdir":       {"/created": "ls -ld's link count of a directory a WORKDIR made in an earlier layer: overlay reports 1 for such a merged directory in skiff's RUN, buildah's RUN sees 2"},
	"env-expansion": {"/env": "podman's RUN has HOSTNAME set to its container's random ID; docker's reference sets no HOSTNAME variable for RUN"},
	"copy-chown-chmod": {
		"/owned-dir": "COPY --chmod=0700 of a directory: skiff gives the directory itself the mode too, as current buildkit does (tonistiigi/fsutil#228, moby/buildkit#4945); buildah 1.28 only its contents",
		"/stat":      "lists /owned-dir's mode: as /owned-dir",
	},
}

// configDifferences are the configuration fields of a case that differ,
// with the reason.
var configDifferences = map[string]map[string]string{
	"expose-volume": {"ExposedPorts": "EXPOSE 8000-8002: docker expands a range into one port each (as skiff does); buildah 1.28 keeps the range as one key"},
	"shell":         {"Cmd": "a shell-form CMD after SHELL runs under that shell in docker's reference (SHELL applies to RUN, CMD and ENTRYPOINT); buildah 1.28 uses /bin/sh -c"},
}

// compareConfigs reports the fields that differ. Env is compared as a set:
// when ENV replaces a variable, docker keeps its place (as skiff does) and
// buildah moves it last. podman's io.buildah.version label is its own.
func compareConfigs(t *testing.T, name string, skiff, podman imageConfig) {
	delete(podman.Labels, "io.buildah.version")
	slices.Sort(skiff.Env)
	slices.Sort(podman.Env)
	sv, pv := reflect.ValueOf(skiff), reflect.ValueOf(podman)
	for i := range sv.NumField() {
		field := sv.Type().Field(i).Name
		if _, known := configDifferences[name][field]; known {
			continue
		}
		s, p := sv.Field(i).Interface(), pv.Field(i).Interface()
		if empty(sv.Field(i)) && empty(pv.Field(i)) {
			continue // nil and empty alike
		}
		if !reflect.DeepEqual(s, p) {
			t.Errorf("%s: %s differs:\n  skiff  %v\n  podman %v", name, field, s, p)
		}
	}
}

func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	}
	return v.IsZero()
}

// compareTrees reports every path whose entry differs, modification times
// aside (a build's are its own), with directories' modes kept.
func compareTrees(t *testing.T, name string, skiff, podman map[string]treeEntry) {
	var paths []string
	for p := range skiff {
		paths = append(paths, p)
	}
	for p := range podman {
		if _, ok := skiff[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		if _, known := treeDifferences[p]; known {
			continue
		}
		if _, known := caseTreeDifferences[name][p]; known {
			continue
		}
		s, inSkiff := skiff[p]
		pm, inPodman := podman[p]
		switch {
		case !inSkiff:
			t.Errorf("%s: %s is in podman's image only: %s", name, p, pm)
		case !inPodman:
			t.Errorf("%s: %s is in skiff's image only: %s", name, p, s)
		case s != pm:
			t.Errorf("%s: %s differs:\n  skiff  %s\n  podman %s", name, p, s, pm)
		}
	}
}

// podmanCases are the corpus cases compared; the others need what podman
// 4.3.1 lacks (README.md) or are error cases.
var podmanCases = []string{
	"minimal", "workdir", "env-expansion", "cmd-entrypoint", "expose-volume",
	"user-names", "copy-chown-chmod", "copy-directory", "copy-multiple-sources", "copy-globs",
	"symlinks-modes", "multi-stage-names", "from-stage", "label-maintainer",
	"stopsignal-healthcheck", "dockerignore-exceptions", "containerignore", "arg-scoping",
	"arg-before-from", "copy-from-image", "add-local", "add-tar", "target-stage", "unused-stage",
	"escape-directive", "syntax-directive", "run-forms", "shell", "parallel-stages",
	"run-mount-bind", "run-mount-cache", "run-mount-tmpfs", "run-mount-secret", "build-context",
	"from-digest", "add-url", "onbuild", "onbuild-copy", "healthcheck-none", "arg-proxy", "from-scratch",
}

// TestBuildMatchesPodman builds corpus cases with skiff and podman and
// compares their image configurations and file trees.
func TestBuildMatchesPodman(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.clientOK("podman", "pull", "-q", "--tls-verify=false", busybox)
	for _, name := range podmanCases {
		t.Run(name, func(t *testing.T) {
			e := e.at(t)
			flags := e.caseFlags(name)
			e.copyCase(name)
			tag := "localhost/cmp-" + name
			e.ok(append(append([]string{"build", "-q", "--format", "docker", "-t", tag}, flags...), name)...)
			e.clientOK("podman", append(append([]string{"build", "-q", "--format", "docker", "--tls-verify=false", "-t", tag}, flags...), name)...)
			compareConfigs(t, name, e.savedConfig("skiff", tag), e.savedConfig("podman", tag))
			compareTrees(t, name, e.exportTree("skiff", tag), e.exportTree("podman", tag))
		})
	}
}
