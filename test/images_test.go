package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestPullByTagShortNameAndAlias(t *testing.T) {
	e := newEnv(t)
	id := strings.TrimSpace(e.ok("pull", "-q", "skiff/busybox")) // short name via unqualified-search-registries
	if !regexp.MustCompile(`^[a-f0-9]{64}$`).MatchString(id) {
		t.Fatalf("pull -q printed %q, want one image id", id)
	}
	if got := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.TrimSpace(got) != busybox {
		t.Fatalf("images after short-name pull: %q", got)
	}
	// An alias from registries.conf.
	e.ok("rmi", busybox)
	e.ok("pull", "-q", "bb:1.0")
	if got := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.TrimSpace(got) != plainRegistry+"/skiff/busybox:1.0" {
		t.Fatalf("images after alias pull: %q", got)
	}
	// docker:// prefix and --platform are accepted.
	e.ok("pull", "-q", "--platform", "linux/amd64", "docker://"+busybox)
}

func TestPullByDigest(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	digest := strings.TrimSpace(e.ok("images", "--format", "{{.Digest}}"))
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("no digest listed: %q", digest)
	}
	e2 := newEnv(t)
	ref := plainRegistry + "/skiff/busybox@" + digest
	id := strings.TrimSpace(e2.ok("pull", "-q", ref))
	got := strings.TrimSpace(e2.ok("image", "inspect", "--format", "{{.Id}} {{index .RepoDigests 0}}", ref))
	if got != "sha256:"+id+" "+ref {
		t.Fatalf("inspect by digest: %q, want id %s and digest %s", got, id, ref)
	}
	if out := e2.ok("images", "--digests", "--format", "{{.Digest}}"); strings.TrimSpace(out) != digest {
		t.Fatalf("images --digests: %q", out)
	}
}

func TestPullTLSVerifyAndInsecureRegistries(t *testing.T) {
	e := newEnv(t)
	// A registries.conf that does not mark the plain registry insecure.
	e.writeFile("home/.config/containers/registries.conf", "unqualified-search-registries = []\n")
	e.fails(125, `pulling .*http`, "pull", "-q", busybox)
	e.ok("pull", "-q", "--tls-verify=false", busybox)
}

func TestPullProgressOnTerminalOnly(t *testing.T) {
	e := newEnv(t)
	if _, err := os.Stat("/usr/bin/script"); err != nil {
		t.Skip("requires script(1) from bsdutils for a pseudo-terminal")
	}
	piped := e.run("pull", busybox)
	if piped.code != 0 || strings.TrimSpace(piped.stderr) != "" {
		t.Fatalf("pull through a pipe must be quiet on stderr\n%s", piped)
	}
	e.ok("rmi", busybox)
	tty := e.sh(`script -qec "stty cols 120 rows 40; $SKIFF pull ` + busybox + `" /dev/null`)
	if tty.code != 0 || !strings.Contains(tty.stdout, "Copying blob") {
		t.Fatalf("pull on a terminal shows no progress\n%s", tty)
	}
}

func TestImagesListing(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("pull", "-q", multilayer)
	e.ok("tag", busybox, "localhost/mine:v1")

	table := e.ok("images")
	if !regexp.MustCompile(`(?m)^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$`).MatchString(table) {
		t.Fatalf("images header:\n%s", table)
	}
	if n := len(lines(table)); n != 4 {
		t.Fatalf("images lists %d lines, want header + 3:\n%s", n, table)
	}
	if !regexp.MustCompile(`(?m)^localhost/mine\s+v1\s+[a-f0-9]{12}\s+\S.*ago\s+2\.\d+MB$`).MatchString(table) {
		t.Fatalf("images row for the tag:\n%s", table)
	}
	quiet := lines(e.ok("images", "-q"))
	if len(quiet) != 2 {
		t.Fatalf("images -q lists %d ids, want 2 (one per image): %v", len(quiet), quiet)
	}
	full := lines(e.ok("images", "-q", "--no-trunc"))
	if len(full) != 2 || !regexp.MustCompile(`^sha256:[a-f0-9]{64}$`).MatchString(full[0]) {
		t.Fatalf("images -q --no-trunc: %v", full)
	}
	if d := e.ok("images", "--digests"); !strings.Contains(d, "DIGEST") || !strings.Contains(d, "sha256:") {
		t.Fatalf("images --digests:\n%s", d)
	}
	// Filters.
	if got := lines(e.ok("images", "--format", "{{.Repository}}", "--filter", "reference=*/skiff/multi*")); len(got) != 1 || got[0] != plainRegistry+"/skiff/multilayer" {
		t.Fatalf("reference filter: %v", got)
	}
	if got := lines(e.ok("images", "-q", "--filter", "label=org.skiff.fixture=multilayer")); len(got) != 1 {
		t.Fatalf("label filter: %v", got)
	}
	if got := lines(e.ok("images", "-q", "--filter", "label=org.skiff.fixture")); len(got) != 2 {
		t.Fatalf("label key filter: %v", got)
	}
	if got := lines(e.ok("images", "-q", "--filter", "dangling=true")); len(got) != 0 {
		t.Fatalf("dangling filter: %v", got)
	}
	// REPOSITORY argument.
	if got := lines(e.ok("images", "--format", "{{.Tag}}", "localhost/mine")); len(got) != 1 || got[0] != "v1" {
		t.Fatalf("images REPOSITORY: %v", got)
	}
	// Templates: plain, table with header, json.
	plain := lines(e.ok("images", "--format", "{{.Repository}}|{{.Tag}}|{{.Size}}"))
	if len(plain) != 3 || !strings.Contains(strings.Join(plain, "\n"), plainRegistry+"/skiff/multilayer|latest|1") {
		t.Fatalf("template output: %v", plain)
	}
	tbl := lines(e.ok("images", "--format", "table {{.ID}}\t{{.Repository}}"))
	if !regexp.MustCompile(`^IMAGE ID\s+REPOSITORY$`).MatchString(tbl[0]) || len(tbl) != 4 {
		t.Fatalf("table template: %v", tbl)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(e.ok("images", "--format", "json")), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("json output: %v %v", err, rows)
	}
	if rows[0]["Repository"] == nil || rows[0]["Id"] == nil {
		t.Fatalf("json rows lack fields: %v", rows[0])
	}
	// -n drops the header.
	if got := lines(e.ok("images", "-n")); len(got) != 3 {
		t.Fatalf("images -n: %v", got)
	}
}

func TestImagesAllShowsDanglingAndPrune(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("pull", "-q", multilayer)
	// Untag multilayer: it becomes dangling.
	e.ok("untag", multilayer)
	dangling := lines(e.ok("images", "-q", "--filter", "dangling=true"))
	if len(dangling) != 1 {
		t.Fatalf("dangling images: %v", dangling)
	}
	if !strings.Contains(e.ok("images", "-a"), "<none>") {
		t.Fatal("images -a does not show the dangling image")
	}
	pruned := lines(e.ok("image", "prune", "-f"))
	if len(pruned) != 1 || !strings.HasPrefix(pruned[0], dangling[0]) {
		t.Fatalf("image prune removed %v, want %v", pruned, dangling)
	}
	if got := lines(e.ok("images", "-q")); len(got) != 1 {
		t.Fatalf("after prune: %v", got)
	}
	// prune -a removes every image no container uses.
	e.ok("image", "prune", "-a", "-f")
	if got := lines(e.ok("images", "-q", "-a")); len(got) != 0 {
		t.Fatalf("after prune -a: %v", got)
	}
}

func TestImageInspect(t *testing.T) {
	e := newEnv(t)
	id := strings.TrimSpace(e.ok("pull", "-q", multilayer))
	var out []map[string]any
	if err := json.Unmarshal([]byte(e.ok("image", "inspect", multilayer)), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect json: %v", err)
	}
	img := out[0]
	for _, k := range []string{"Id", "RepoTags", "RepoDigests", "Created", "Config", "Architecture", "Os", "Size", "RootFS", "GraphDriver"} {
		if _, ok := img[k]; !ok {
			t.Fatalf("inspect lacks %s: %v", k, img)
		}
	}
	if img["Id"] != "sha256:"+id {
		t.Fatalf("Id %v, want sha256:%s", img["Id"], id)
	}
	layers := img["RootFS"].(map[string]any)["Layers"].([]any)
	if len(layers) != 6 {
		t.Fatalf("RootFS.Layers has %d entries, want 6", len(layers))
	}
	cfg := img["Config"].(map[string]any)
	if cfg["Cmd"].([]any)[0] != "sh" || cfg["Labels"].(map[string]any)["org.skiff.fixture"] != "multilayer" {
		t.Fatalf("Config: %v", cfg)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.Os}}/{{.Architecture}} {{index .Config.Labels \"org.skiff.fixture\"}}", id[:12])); got != "linux/amd64 multilayer" {
		t.Fatalf("inspect --format by short id: %q", got)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{json .RepoTags}}", multilayer)); got != `["`+multilayer+`"]` {
		t.Fatalf("inspect json func: %q", got)
	}
	e.fails(125, `no such image: nosuch`, "image", "inspect", "nosuch")
}

func TestTagUntagRmi(t *testing.T) {
	e := newEnv(t)
	id := strings.TrimSpace(e.ok("pull", "-q", busybox))
	e.ok("tag", busybox, "localhost/one:a", "two:b")
	names := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
	for _, want := range []string{busybox, "localhost/one:a", "localhost/two:b"} {
		if !strings.Contains(names, want) {
			t.Fatalf("after tag, %s missing from\n%s", want, names)
		}
	}
	// By id with several names: refused without -f, state unchanged.
	before := e.state()
	e.fails(125, `has 3 names.*-f`, "rmi", id[:12])
	if e.state() != before {
		t.Fatal("a refused rmi changed the store")
	}
	// By name: only that name goes.
	if out := e.ok("rmi", "localhost/one:a"); !strings.Contains(out, "Untagged: localhost/one:a") || strings.Contains(out, "Deleted") {
		t.Fatalf("rmi by name: %q", out)
	}
	e.ok("untag", id, "two:b")
	if got := lines(e.ok("images", "--format", "{{.Repository}}:{{.Tag}}")); len(got) != 1 || got[0] != busybox {
		t.Fatalf("after untag: %v", got)
	}
	out := e.ok("rmi", busybox)
	if !strings.Contains(out, "Untagged: "+busybox) || !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("rmi of the last name: %q", out)
	}
	if got := e.ok("images", "-a", "-q"); got != "" {
		t.Fatalf("images after rmi: %q", got)
	}
	// -f with several names deletes; --all removes everything.
	e.ok("pull", "-q", busybox)
	e.ok("tag", busybox, "x:1")
	e.ok("rmi", "-f", id)
	e.ok("pull", "-q", busybox)
	e.ok("pull", "-q", multilayer)
	e.ok("rmi", "--all")
	if got := e.ok("images", "-a", "-q"); got != "" {
		t.Fatalf("images after rmi --all: %q", got)
	}
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	id := strings.TrimSpace(e.ok("pull", "-q", multilayer))
	out := lines(e.ok("history", multilayer))
	if len(out) != 7 || !regexp.MustCompile(`^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$`).MatchString(out[0]) {
		t.Fatalf("history:\n%s", strings.Join(out, "\n"))
	}
	if !strings.HasPrefix(out[1], id[:12]) || !strings.Contains(out[1], "layer 6") || !strings.Contains(out[6], "layer 1") {
		t.Fatalf("history order:\n%s", strings.Join(out, "\n"))
	}
	if q := lines(e.ok("history", "-q", multilayer)); len(q) != 6 || q[0] != id[:12] || q[1] != "<missing>" {
		t.Fatalf("history -q: %v", q)
	}
	if f := lines(e.ok("history", "--format", "{{.Size}}", "-H=false", multilayer)); f[1] == "" || strings.ContainsAny(f[1], "MBk") {
		t.Fatalf("history --format -H=false: %v", f)
	}
}

func TestSaveRmiLoadRoundTrip(t *testing.T) {
	e := newEnv(t)
	bbID := strings.TrimSpace(e.ok("pull", "-q", busybox))
	mlID := strings.TrimSpace(e.ok("pull", "-q", multilayer))
	archive := filepath.Join(e.root, "work", "both.tar")
	e.ok("save", "-o", archive, busybox, multilayer)
	e.ok("rmi", busybox, multilayer)
	out := e.ok("load", "-i", archive)
	if !strings.Contains(out, "Loaded image: "+busybox) || !strings.Contains(out, "Loaded image: "+multilayer) {
		t.Fatalf("load output: %q", out)
	}
	ids := e.ok("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
	if !strings.Contains(ids, "sha256:"+bbID+" "+busybox) || !strings.Contains(ids, "sha256:"+mlID+" "+multilayer) {
		t.Fatalf("ids changed across save/rmi/load (want %s, %s):\n%s", bbID, mlID, ids)
	}
	// oci-archive, through a pipe both ways.
	r := e.sh(`"$SKIFF" save --format oci-archive ` + busybox + ` > bb-oci.tar && "$SKIFF" rmi ` + busybox + ` >/dev/null && "$SKIFF" load < bb-oci.tar`)
	if r.code != 0 || !strings.Contains(r.stdout, "Loaded image: "+busybox) {
		t.Fatalf("oci-archive round trip through pipes\n%s", r)
	}
	if got := strings.TrimSpace(e.ok("image", "inspect", "--format", "{{.Id}}", busybox)); got != "sha256:"+bbID {
		t.Fatalf("oci-archive round trip id %s, want %s", got, bbID)
	}
	// docker-archive to stdout.
	r = e.sh(`"$SKIFF" save ` + busybox + ` | tar -t | grep -c manifest.json`)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "1" {
		t.Fatalf("save to stdout is not a docker archive\n%s", r)
	}
	e.fails(125, `neither a docker-archive`, "load", "-i", e.writeFile("work/junk.tar", "not an archive"))
	e.fails(125, `oci-archive holds one image`, "save", "--format", "oci-archive", "-o", "x.tar", busybox, multilayer)
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	r := e.sh(`mkdir -p rootfs/bin rootfs/etc && cp /bin/busybox rootfs/bin/ && echo imported > rootfs/etc/marker && tar -C rootfs -cf rootfs.tar . && "$SKIFF" import -m "from a tarball" rootfs.tar localhost/imported:v1`)
	if r.code != 0 || !regexp.MustCompile(`^[a-f0-9]{64}\n$`).MatchString(r.stdout) {
		t.Fatalf("import\n%s", r)
	}
	got := strings.TrimSpace(e.ok("image", "inspect", "--format", "{{len .RootFS.Layers}} {{.Os}} {{.Comment}}", "localhost/imported:v1"))
	if got != "1 linux from a tarball" {
		t.Fatalf("imported image: %q", got)
	}
	r = e.sh(`cat rootfs.tar | "$SKIFF" import - localhost/imported:stdin`)
	if r.code != 0 {
		t.Fatalf("import from stdin\n%s", r)
	}
	e.fails(125, `cannot read`, "import", "/nonexistent.tar")
}

func TestPushAndPullBack(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	repo := plainRegistry + "/e2e/pushed-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	e.ok("tag", busybox, repo+":v1")
	e.ok("push", "-q", repo+":v1")
	e.ok("push", "-q", "--format", "oci", busybox, repo+":oci")
	other := newEnv(t)
	id := strings.TrimSpace(other.ok("pull", "-q", repo+":v1"))
	want := strings.TrimSpace(e.ok("images", "-q", "--no-trunc", busybox))
	if "sha256:"+id != want {
		t.Fatalf("pushed image came back as %s, want %s", id, want)
	}
	other.ok("pull", "-q", repo+":oci")
	e.fails(125, `no such image`, "push", "localhost/nothing:here")
}

func TestAuthLoginLogout(t *testing.T) {
	e := newEnv(t)
	ref := authRegistry + "/skiff/busybox:latest"
	before := e.state()
	e.fails(125, `authentication`, "pull", "-q", ref)
	if e.state() != before {
		t.Fatal("a failed pull changed the store")
	}
	e.fails(125, `authentication|unauthorized|invalid`, "login", "-u", authUser, "-p", "wrong", authRegistry)
	r := e.runIn(authPassword+"\n", "login", "-u", authUser, "--password-stdin", authRegistry)
	if r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
		t.Fatalf("login\n%s", r)
	}
	if got := strings.TrimSpace(e.ok("login", "--get-login", authRegistry)); got != authUser {
		t.Fatalf("login --get-login: %q", got)
	}
	e.ok("pull", "-q", ref)
	// A push needs the credentials too.
	e.ok("tag", ref, authRegistry+"/e2e/authpush:v1")
	e.ok("push", "-q", authRegistry+"/e2e/authpush:v1")
	e.ok("logout", authRegistry)
	e.ok("rmi", ref)
	e.fails(125, `authentication`, "pull", "-q", ref)
	// --creds works without a login.
	e.ok("pull", "-q", "--creds", authUser+":"+authPassword, ref)
	e.ok("rmi", ref)
	// Credentials in ~/.docker/config.json are read too.
	e.writeFile("home/.docker/config.json", `{"auths":{"`+authRegistry+`":{"auth":"c2tpZmZ1c2VyOnNraWZmcGFzcw=="}}}`)
	e.ok("pull", "-q", ref)
	// --authfile.
	af := filepath.Join(e.root, "work", "auth.json")
	e.ok("login", "--authfile", af, "-u", authUser, "-p", authPassword, authRegistry)
	if data, err := os.ReadFile(af); err != nil || !strings.Contains(string(data), authRegistry) {
		t.Fatalf("--authfile not written: %v %s", err, data)
	}
	e.ok("rmi", ref)
	e.writeFile("home/.docker/config.json", `{}`)
	e.fails(125, `authentication`, "pull", "-q", ref)
	e.ok("pull", "-q", "--authfile", af, ref)
	e.ok("logout", "--all")
}

func TestInfoAndVersion(t *testing.T) {
	e := newEnv(t)
	var info map[string]map[string]any
	if err := json.Unmarshal([]byte(e.ok("info", "--format", "json")), &info); err != nil {
		t.Fatal(err)
	}
	host, store := info["Host"], info["Store"]
	if host["Rootless"] != true || store["GraphDriverName"] != "overlay" {
		t.Fatalf("info: rootless %v driver %v", host["Rootless"], store["GraphDriverName"])
	}
	if want := filepath.Join(e.home, ".local/share/skiff/storage"); store["GraphRoot"] != want {
		t.Fatalf("GraphRoot %v, want %s", store["GraphRoot"], want)
	}
	uidmap := host["UIDMap"].([]any)
	if len(uidmap) != 2 || uidmap[1].(map[string]any)["Size"].(float64) != 65536 {
		t.Fatalf("uid map %v, want the user plus 65536 subordinate ids", uidmap)
	}
	if got := strings.TrimSpace(e.ok("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}")); got != "crun overlay" {
		t.Fatalf("info --format: %q", got)
	}
	if !strings.Contains(e.ok("info"), "graphDriverName: overlay") {
		t.Fatal("info text output")
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(e.ok("version", "--format", "{{.Client.Version}}")) {
		t.Fatal("version --format")
	}
}

func TestStorageConfHonoured(t *testing.T) {
	e := newEnv(t)
	alt := filepath.Join(e.root, "altstore")
	e.writeFile("home/.config/containers/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \""+alt+"\"\n")
	if got := strings.TrimSpace(e.ok("info", "--format", "{{.Store.GraphDriverName}} {{.Store.GraphRoot}}")); got != "vfs "+alt {
		t.Fatalf("storage.conf ignored: %q", got)
	}
	e.ok("pull", "-q", busybox)
	if _, err := os.Stat(filepath.Join(alt, "vfs")); err != nil {
		t.Fatalf("vfs store not at the configured graphroot: %v", err)
	}
}

func TestImageNamesCompleteDynamically(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("tag", busybox, "localhost/completeme:v1")
	for _, verb := range [][]string{{"rmi"}, {"image", "inspect"}, {"tag"}, {"history"}, {"push"}, {"save"}} {
		args := append(append([]string{"__complete"}, verb...), "localhost/comp")
		r := e.run(args...) // cobra reports the directive on stderr
		out := r.stdout
		if r.code != 0 || !strings.Contains(out, "localhost/completeme:v1") {
			t.Fatalf("completion for %v lacks the image: %q", verb, out)
		}
		if strings.Contains(out, busybox) {
			t.Fatalf("completion for %v ignores the prefix: %q", verb, out)
		}
	}
}
