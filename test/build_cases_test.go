package test

import (
	"testing"
	"time"
)

// Corpus cases podman 4.3.1 cannot build (test/testdata/build/README.md),
// checked against what docker's reference says they make.

// TestBuildCasesPodmanCannot: heredocs in RUN and COPY, COPY --link, ADD
// --checksum and COPY --from a stage defined later build and give docker's
// files.
func TestBuildCasesPodmanCannot(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	for _, tc := range []struct {
		name  string
		check string // a shell command run in the image
		want  string
	}{
		{"run-heredoc", "cat /heredoc /script /cat-heredoc", "first\nsecond\nscript with a shebang\nwritten by cat\n"},
		{"copy-heredoc", "cat /greeting /literal", "hello world\nno ${NAME} expansion\n"},
		{"copy-link", "cat /linked/file.txt; test -s /linked/hostname && echo copied", "linked copy\ncopied\n"},
		{"add-checksum", "for f in /config/*; do sha256sum $f; done | cut -c1-64 | wc -l", "1\n"},
		{"copy-from-later-stage", "cat /later", "later\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.at(t)
			flags := e.caseFlagsAll(tc.name)
			e.copyCase(tc.name)
			tag := "localhost/case-" + tc.name
			e.ok(append(append([]string{"build", "-q", "-t", tag}, flags...), tc.name)...)
			if got := e.ok("run", "--rm", tag, "sh", "-c", tc.check); got != tc.want {
				t.Fatalf("%s: %q gives %q, want %q", tc.name, tc.check, got, tc.want)
			}
		})
	}
}

// TestBuildStagesRunInParallel: two independent stages of a second each
// build in less wall time than one after the other (--jobs 1), and a cached
// rebuild of them takes a fraction of either.
func TestBuildStagesRunInParallel(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.copyCase("parallel-stages")
	timed := func(args ...string) time.Duration {
		start := time.Now()
		e.ok(append([]string{"build", "-q"}, args...)...)
		return time.Since(start)
	}
	serial := timed("--no-cache", "--jobs", "1", "parallel-stages")
	parallel := timed("--no-cache", "parallel-stages")
	if parallel > serial-600*time.Millisecond {
		t.Fatalf("two 1 s stages took %v at once and %v one after the other", parallel, serial)
	}
	if cached := timed("parallel-stages"); cached > parallel/2 {
		t.Fatalf("a cached rebuild took %v (the build %v)", cached, parallel)
	}
	t.Logf("serial %v, parallel %v", serial, parallel)
}
