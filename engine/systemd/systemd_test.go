package systemd

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func lookupIn(dir string) func(string) (*UnitFile, error) {
	return func(name string) (*UnitFile, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return Parse(name, data)
	}
}

// TestQuadletGolden converts every source file in testdata/quadlet (one or
// a few keys each) and compares the service with its golden file,
// SOURCE.service.
func TestQuadletGolden(t *testing.T) {
	dir := filepath.Join("testdata", "quadlet")
	sources := FindQuadlets([]string{dir})
	if len(sources) < 10 {
		t.Fatalf("found %d sources", len(sources))
	}
	o := QuadletOptions{Binary: "/usr/bin/skiff", Lookup: lookupIn(dir)}
	seen := map[string]bool{}
	for _, s := range sources {
		t.Run(filepath.Base(s.Path), func(t *testing.T) {
			data, err := os.ReadFile(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(filepath.Base(s.Path), data)
			if err != nil {
				t.Fatal(err)
			}
			g, err := Convert(f, o)
			if err != nil {
				t.Fatal(err)
			}
			golden := s.Path + ".service"
			if *update {
				if err := os.WriteFile(golden, []byte(g.Text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestQuadletGolden -update writes it)", err)
			}
			if g.Text != string(want) {
				t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", s.Path, golden, g.Text, want)
			}
			for _, sec := range f.Sections {
				for _, e := range sec.Entries {
					seen[e.Key] = true
				}
			}
		})
	}
	// Every key the generator reads is covered by some golden file.
	for kind, list := range keys {
		for _, k := range list {
			if !seen[k] {
				t.Errorf("no golden file covers %s key %s", kind, k)
			}
		}
	}
}

func TestQuadletInstallLinks(t *testing.T) {
	data, _ := os.ReadFile("testdata/quadlet/notify-args.container")
	f, err := Parse("notify-args.container", data)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Convert(f, QuadletOptions{Binary: "/usr/bin/skiff"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "notify-args.service" || !slices.Equal(g.WantedBy, []string{"default.target", "multi-user.target"}) || !slices.Equal(g.RequiredBy, []string{"app.target"}) {
		t.Fatalf("%s wanted by %v, required by %v", g.Name, g.WantedBy, g.RequiredBy)
	}
}

// TestQuadletErrors: a bad file is refused with its name, the line and
// the key.
func TestQuadletErrors(t *testing.T) {
	for _, tc := range []struct{ file, text, want string }{
		{"a.container", "[Container]\nImage=x\nImag=y\n", `a.container:3: unknown key "Imag" in [Container]`},
		{"a.container", "[Container]\nImage=x\nNotify=maybe\n", `a.container:3: Notify: "maybe" is not a boolean`},
		{"a.container", "[Contaner]\nImage=x\n", `a.container:1: unknown section [Contaner]`},
		{"a.container", "[Container]\nExec=true\n", `a.container:1: [Container] has no Image=`},
		{"a.container", "[Container]\nImage=x\nVolume=data\n", `a.container:3: Volume: "data": want [SOURCE:]/DEST`},
		{"a.container", "[Container]\nImage=x\n\nVolume=gone.volume:/d\n", `a.container:4: Volume: gone.volume not found`},
		{"a.container", "[Container]\nImage=x\nNetwork=gone.network\n", `a.container:3: Network: gone.network not found`},
		{"a.container", "[Container]\nImage=x\nExec=sh -c \"unbalanced\n", `a.container:3: Exec: unbalanced quotes`},
		{"a.container", "[Container]\nImage=x\nEnvironment=NOVALUE\n", `a.container:3: Environment: "NOVALUE": want KEY=VALUE`},
		{"a.container", "[Container]\nImage=x\nGroup=10\n", `a.container:3: Group: needs User=`},
		{"a.container", "[Container]\nImage=x\nPublishPort=\n", `a.container:3: PublishPort: "": want`},
		{"a.container", "Image=x\n", `a.container:1: Image= comes before any [section]`},
		{"a.container", "[Container]\nImage\n", `a.container:2: want KEY=VALUE`},
		{"v.volume", "[Volume]\nUser=alice\n", `v.volume:2: User: "alice": want a numeric id`},
		{"v.volume", "[Volume]\nDevice=/dev/sda1\n", `v.volume:2: unknown key "Device" in [Volume]`},
		{"n.network", "[Network]\nDriver=macvlan\n", `n.network:2: Driver: "macvlan": only bridge`},
		{"n.network", "[Network]\n# comment\nIPv6=true\n", `n.network:3: IPv6: IPv6 networks are not supported`},
	} {
		f, err := Parse(tc.file, []byte(tc.text))
		if err == nil {
			_, err = Convert(f, QuadletOptions{Binary: "/usr/bin/skiff", Lookup: lookupIn(t.TempDir())})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}

func arityOfRun(name string, short bool) (bool, bool) {
	values := map[string]bool{"name": true, "p": true, "publish": true, "e": true, "env": true, "v": true, "cidfile": true, "sdnotify": true, "restart": true, "network": true}
	bools := map[string]bool{"d": true, "detach": true, "rm": true, "replace": true, "i": true, "t": true, "tty": true, "interactive": true, "init": true}
	if values[name] {
		return true, true
	}
	return bools[name], false
}

// TestGenerateNew: the unit runs the container's own command line with the
// flags it sets itself replaced.
func TestGenerateNew(t *testing.T) {
	c := Container{ID: strings.Repeat("a", 64), Name: "web", CreateCommand: []string{"container", "run", "-dit", "--name", "web", "--rm", "-p", "8080:80",
		"--cidfile=/tmp/x", "--restart", "always", "-e", "MSG=100% $HOME", "--sdnotify=ignore", "--init", "-v/srv:/srv", "busybox", "sh", "-c", "echo hi; sleep 9"},
		StopTimeout: -1, Restart: "always"}
	name, text, err := Generate(c, GenerateOptions{New: true, UseName: true, Binary: "/usr/bin/skiff", StopTimeout: -1, NoHeader: true}, arityOfRun)
	if err != nil {
		t.Fatal(err)
	}
	if name != "container-web.service" {
		t.Fatalf("unit name %q", name)
	}
	want := `ExecStart=/usr/bin/skiff run --cidfile=%t/%n.ctr-id --rm --sdnotify=conmon -d --replace --name web -it -p 8080:80 -e "MSG=100%% $$HOME" --init -v /srv:/srv busybox sh -c "echo hi; sleep 9"`
	if !strings.Contains(text, want+"\n") {
		t.Fatalf("want %s in\n%s", want, text)
	}
	for _, line := range []string{"Type=notify", "NotifyAccess=all", "ExecStop=/usr/bin/skiff stop --ignore -t 10 --cidfile=%t/%n.ctr-id",
		"ExecStopPost=/usr/bin/skiff rm -f --ignore -t 10 --cidfile=%t/%n.ctr-id", "TimeoutStopSec=70", "Restart=always"} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("missing %s in\n%s", line, text)
		}
	}
	c.CreateCommand = []string{"pull", "busybox"}
	if _, _, err := Generate(c, GenerateOptions{New: true}, arityOfRun); err == nil {
		t.Fatal("a container without its run command line")
	}
	c.CreateCommand = []string{"run", "--bogus", "busybox"}
	if _, _, err := Generate(c, GenerateOptions{New: true}, arityOfRun); err == nil || !strings.Contains(err.Error(), "--bogus") {
		t.Fatalf("unknown flag: %v", err)
	}
	if _, _, err := Generate(c, GenerateOptions{RestartPolicy: "sometimes"}, arityOfRun); err == nil {
		t.Fatal("a bad restart policy")
	}
}

// TestGenerateRestartAndStopTimeout: the container's own --restart and
// --stop-timeout make the unit's Restart=, StartLimitBurst= and -t, as
// podman's generate systemd does; the flags override them.
func TestGenerateRestartAndStopTimeout(t *testing.T) {
	for _, c := range []struct {
		restart string
		retries int
		stop    int
		o       GenerateOptions
		want    []string
		not     []string
	}{
		{"always", 0, 5, GenerateOptions{StopTimeout: -1}, []string{"Restart=always", "-t 5 ", "TimeoutStopSec=65"}, []string{"StartLimitBurst"}},
		{"unless-stopped", 0, -1, GenerateOptions{StopTimeout: -1}, []string{"Restart=always", "-t 10 "}, nil},
		{"on-failure", 42, 0, GenerateOptions{StopTimeout: -1}, []string{"Restart=on-failure", "StartLimitBurst=42", "-t 0 "}, nil},
		{"on-failure", 0, -1, GenerateOptions{StopTimeout: -1}, []string{"Restart=on-failure"}, []string{"StartLimitBurst"}},
		{"no", 0, -1, GenerateOptions{StopTimeout: -1}, []string{"Restart=on-failure"}, nil},
		{"always", 0, 5, GenerateOptions{StopTimeout: 3, RestartPolicy: "no"}, []string{"Restart=no", "-t 3 "}, []string{"Restart=always"}},
	} {
		ctr := Container{ID: strings.Repeat("c", 64), Name: "x", PIDFile: "/p", Restart: c.restart, RestartRetries: c.retries, StopTimeout: c.stop}
		c.o.Binary, c.o.NoHeader = "/usr/bin/skiff", true
		_, text, err := Generate(ctr, c.o, arityOfRun)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s:%d stop %d %+v: missing %q in\n%s", c.restart, c.retries, c.stop, c.o, w, text)
			}
		}
		for _, w := range c.not {
			if strings.Contains(text, w) {
				t.Errorf("%s:%d stop %d %+v: unwanted %q in\n%s", c.restart, c.retries, c.stop, c.o, w, text)
			}
		}
	}
}

func TestGenerateExisting(t *testing.T) {
	c := Container{ID: strings.Repeat("b", 64), Name: "db", PIDFile: "/home/u/.local/share/skiff/containers/bbb/monitor.pid", StopTimeout: 30}
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	name, text, err := Generate(c, GenerateOptions{Binary: "/usr/bin/skiff", StopTimeout: -1, RestartPolicy: "always", RestartSec: 5,
		After: []string{"a.service"}, Requires: []string{"b.service"}, Wants: []string{"c.service"}, ContainerPrefix: "ctr", Separator: "_", Now: now}, arityOfRun)
	if err != nil {
		t.Fatal(err)
	}
	if name != "ctr_"+c.ID+".service" {
		t.Fatalf("unit name %q", name)
	}
	for _, line := range []string{"# ctr_" + c.ID + ".service", "# Fri, 27 Nov 2026 00:00:00 UTC", "Wants=network-online.target c.service", "After=network-online.target a.service",
		"Requires=b.service", "Restart=always", "RestartSec=5", "TimeoutStopSec=90", "ExecStart=/usr/bin/skiff start " + c.ID,
		"ExecStop=/usr/bin/skiff stop -t 30 " + c.ID, "PIDFile=" + c.PIDFile, "Type=forking", "WantedBy=default.target"} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("missing %s in\n%s", line, text)
		}
	}
}

func TestWordsAndQuoting(t *testing.T) {
	args := []string{"plain", "two words", `quote"d`, `back\slash`, "semi;colon", "", "tab\there", "it's"}
	var quoted []string
	for _, a := range args {
		quoted = append(quoted, Quote(a))
	}
	got, err := SplitWords(strings.Join(quoted, " "))
	if err != nil || !slices.Equal(got, args) {
		t.Fatalf("round trip: %q (%v), want %q", got, err, args)
	}
	if q := Quote("100%$x"); q != "100%%$$x" {
		t.Fatalf("specifiers and variables: %s", q)
	}
	if w, _ := SplitWords(`a 'b c' "d \"e\"" f\ g`); !slices.Equal(w, []string{"a", "b c", `d "e"`, "f g"}) {
		t.Fatalf("split: %q", w)
	}
}
