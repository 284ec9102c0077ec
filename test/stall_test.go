package test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallProxy is an HTTP proxy of the test's own in front of the plain
// registry. In a stalling mode it sends the headers and half the body of
// the chosen responses, then nothing more, keeping the connection open:
// a registry that stalls.
type stallProxy struct {
	addr    string
	mode    atomic.Value // "", "v2", "manifest", "blob"
	stalled atomic.Int32 // responses it has stalled
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String(), stop: make(chan struct{})}
	p.mode.Store("")
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	t.Cleanup(func() {
		close(p.stop)
		srv.Close()
	})
	return p
}

func (p *stallProxy) stalls(path string, size int64) bool {
	switch p.mode.Load().(string) {
	case "v2", "v2-headers":
		return path == "/v2/" || path == "/v2"
	case "manifest":
		return strings.Contains(path, "/manifests/")
	case "blob":
		return strings.Contains(path, "/blobs/") && size > 64<<10 // a layer, not the config
	}
	return false
}

func (p *stallProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+plainRegistry+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	up.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(up)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if r.URL.Path == "/v2/" && len(body) < 16 {
		// The registry's API check answers "{}": make it long enough to
		// stall halfway.
		body = append(bytes.TrimSpace(body), bytes.Repeat([]byte(" "), 4096)...)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	if p.mode.Load() == "v2-headers" && p.stalls(r.URL.Path, 0) {
		p.stalled.Add(1)
		select { // not even the headers
		case <-r.Context().Done():
		case <-p.stop:
		}
		return
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead || !p.stalls(r.URL.Path, int64(len(body))) {
		w.Write(body)
		return
	}
	p.stalled.Add(1)
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	select { // nothing more, until the client gives up or the test ends
	case <-r.Context().Done():
	case <-p.stop:
	}
}

// runWithin runs skiff ARGS as the user and fails the test when it takes
// longer than limit (a pull that hangs).
func (e *env) runWithin(limit time.Duration, args ...string) (result, time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := e.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		e.t.Fatalf("skiff %v still waiting after %s: a stalled registry hangs it", args, limit)
	}
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r, took
}

// TestPullGivesUpOnAStalledRegistry: a registry that stops sending in the
// middle of the API check's body, of a manifest or of a blob ends pull
// (and run's pull) after --stall-timeout with one line naming the
// registry and what it was sending, leaves nothing in the store, and the
// next pull works.
func TestPullGivesUpOnAStalledRegistry(t *testing.T) {
	e := newEnv(t)
	proxy := newStallProxy(t)
	image := proxy.addr + "/skiff/busybox:latest"
	registry := regexp.QuoteMeta(proxy.addr)
	cases := []struct {
		mode, what string
		args       []string
		mayPass    bool // the image library may not read this body at all
	}{
		{"blob", `blob sha256:[a-f0-9]{64}`, []string{"pull", "-q"}, false},
		{"blob", `blob sha256:[a-f0-9]{64}`, []string{"run", "--rm"}, false},
		{"manifest", `manifest latest`, []string{"pull", "-q"}, false},
		{"v2-headers", `the answer to GET /v2/`, []string{"pull", "-q"}, false},
		// The library closes the API check's body unread: no wait, no
		// stall, the pull goes on.
		{"v2", `the answer to GET /v2/`, []string{"pull", "-q"}, true},
	}
	for _, c := range cases {
		t.Run(c.mode+"-"+c.args[0], func(t *testing.T) {
			e := e.at(t)
			proxy.mode.Store(c.mode)
			before := proxy.stalled.Load()
			args := append(append(append([]string{}, c.args...), "--tls-verify=false", "--stall-timeout", "2s", image), "true")
			if c.args[0] == "pull" {
				args = args[:len(args)-1]
			}
			r, took := e.runWithin(90*time.Second, args...)
			if proxy.stalled.Load() == before {
				t.Fatalf("the proxy stalled nothing in mode %s\n%s", c.mode, r)
			}
			if took > 45*time.Second {
				t.Fatalf("took %s, with a stall timeout of 2s\n%s", took, r)
			}
			if c.mayPass && r.code == 0 {
				e.ok("rmi", image)
				return
			}
			checkFailure(t, r, 125, `registry `+registry+` stalled: it sent nothing for 2s while sending `+c.what)
			t.Logf("after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
			if got := e.ok("images", "-a", "-q"); got != "" {
				t.Fatalf("a stalled pull left images: %q", got)
			}
			if got := overlayLayers(t, e); len(got) != 0 {
				t.Fatalf("a stalled pull left layers: %v", got)
			}
			// The registry recovers: the next pull works.
			proxy.mode.Store("")
			if r, _ := e.runWithin(90*time.Second, "pull", "-q", "--tls-verify=false", "--stall-timeout", "2s", image); r.code != 0 {
				t.Fatalf("pull after the stall\n%s", r)
			}
			if got := e.ok("run", "--rm", image, "echo", "pulled"); got != "pulled\n" {
				t.Fatalf("run of the image pulled after a stall: %q", got)
			}
			e.ok("rmi", image)
		})
	}
	// The image library's general copy path (vfs takes it) is watched too.
	t.Run("blob-copy-path", func(t *testing.T) {
		e := e.at(t)
		store := []string{"--root", filepath.Join(e.home, "vfs-store"), "--storage-driver", "vfs"}
		proxy.mode.Store("blob")
		r, took := e.runWithin(90*time.Second, append(store, "pull", "-q", "--tls-verify=false", "--stall-timeout", "2s", image)...)
		if took > 45*time.Second {
			t.Fatalf("took %s, with a stall timeout of 2s\n%s", took, r)
		}
		checkFailure(t, r, 125, `registry `+registry+` stalled: it sent nothing for 2s while sending blob sha256:[a-f0-9]{64}`)
		if got := e.ok(append(store, "images", "-a", "-q")...); got != "" {
			t.Fatalf("a stalled pull left images: %q", got)
		}
		proxy.mode.Store("")
		if r, _ := e.runWithin(90*time.Second, append(store, "pull", "-q", "--tls-verify=false", "--stall-timeout", "2s", image)...); r.code != 0 {
			t.Fatalf("pull after the stall\n%s", r)
		}
	})
	// The flag's default is documented.
	if help := e.ok("pull", "--help"); !regexp.MustCompile(`--stall-timeout duration\s+give up .* \(default 30s\)`).MatchString(help) {
		t.Fatalf("pull --help lacks --stall-timeout's default:\n%s", help)
	}
}
