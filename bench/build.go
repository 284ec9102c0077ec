package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The build benchmarks of issue 13, side by side with podman build:
//   - a cold build of a 10-step Containerfile (3 RUNs, 4 COPYs, --no-cache);
//   - a fully cached rebuild of a 20-step Containerfile;
//   - a rebuild after a change to the file copied last;
//   - two independent stages of a second each (wall time against the
//     stages one after the other, --jobs 1).

const (
	base = registry + "/skiff/busybox:latest"

	cold10 = "FROM " + base + "\nENV A=1\nWORKDIR /app\nCOPY f1 /app/\nRUN echo one > /one\nCOPY f2 /app/\n" +
		"RUN echo two > /two\nCOPY f3 /app/\nRUN echo three > /three\nCOPY f4 /app/\n"
	twoStages = "FROM " + base + " AS left\nRUN sleep 1 && echo left > /left\n" +
		"FROM " + base + " AS right\nRUN sleep 1 && echo right > /right\n" +
		"FROM " + base + "\nCOPY --from=left /left /left\nCOPY --from=right /right /right\n"
)

// cached20 is a 20-step Containerfile.
func cached20() string {
	var b strings.Builder
	b.WriteString("FROM " + base + "\n")
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, "ENV V%d=%d\nRUN echo %d > /r%d\nLABEL l%d=%d\n", i, i, i, i, i, i)
	}
	b.WriteString("COPY f1 f2 /app/\nCOPY f3 /app/\nWORKDIR /app\nCOPY f4 /app/\nCMD [\"sh\"]\n")
	return b.String()
}

// buildContext writes a context directory with a Containerfile and four
// files of 200 kB, owned by the benchmark user.
func (b *bench) buildContext(name, containerfile string) (string, error) {
	dir := filepath.Join(b.root, "ctx", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := map[string][]byte{"Containerfile": []byte(containerfile)}
	for i := 1; i <= 4; i++ {
		data := make([]byte, 200<<10)
		_, _ = rand.Read(data)
		files[fmt.Sprintf("f%d", i)] = data
	}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			return "", err
		}
	}
	return dir, b.chownTree(filepath.Join(b.root, "ctx"))
}

func (b *bench) chownTree(dir string) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, b.uid, b.gid)
		}
		return err
	})
}

// buildArgs are the flags each engine builds with.
func buildArgs(e engine, extra ...string) []string {
	args := []string{"build", "-q"}
	if e.name == "podman" {
		args = append(args, "--format", "docker", "--tls-verify=false")
	}
	return append(args, extra...)
}

// builds times n builds per engine, alternating; before runs each one.
func (b *bench) builds(what string, n int, before func() error, args ...string) error {
	engines := b.engines()
	times := map[string][]time.Duration{}
	for i := 0; i < n; i++ {
		for _, e := range engines {
			if before != nil {
				if err := before(); err != nil {
					return err
				}
			}
			d, err := b.run(e, buildArgs(e, args...)...)
			if err != nil {
				return err
			}
			times[e.name] = append(times[e.name], d)
		}
	}
	report(what, engines, times)
	return nil
}

func (b *bench) build(n int) error {
	for _, e := range b.engines() {
		if _, err := b.run(e, pullArgs(e)...); err != nil {
			return err
		}
	}
	c10, err := b.buildContext("cold10", cold10)
	if err != nil {
		return err
	}
	if err := b.builds("cold build, 10 steps (3 RUN, 4 COPY), --no-cache", n, nil, "--no-cache", "-t", "bench10", c10); err != nil {
		return err
	}
	c20, err := b.buildContext("cached20", cached20())
	if err != nil {
		return err
	}
	for _, e := range b.engines() { // the cache, untimed
		if _, err := b.run(e, buildArgs(e, "-t", "bench20", c20)...); err != nil {
			return err
		}
	}
	if err := b.builds("fully cached rebuild, 20 steps", n, nil, "-t", "bench20", c20); err != nil {
		return err
	}
	change := func() error {
		data := make([]byte, 1000)
		_, _ = rand.Read(data)
		p := filepath.Join(c10, "f4")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		return os.Lchown(p, b.uid, b.gid)
	}
	if err := b.builds("rebuild after changing the file copied last", n, change, "-t", "bench10", c10); err != nil {
		return err
	}
	c2, err := b.buildContext("stages", twoStages)
	if err != nil {
		return err
	}
	if err := b.builds("two independent 1 s stages, --no-cache", n, nil, "--no-cache", c2); err != nil {
		return err
	}
	return b.builds("two independent 1 s stages one after the other (--jobs 1), --no-cache", n, nil, "--no-cache", "--jobs", "1", c2)
}

func pullArgs(e engine) []string {
	if e.name == "podman" {
		return []string{"pull", "-q", "--tls-verify=false", base}
	}
	return []string{"pull", "-q", base}
}
