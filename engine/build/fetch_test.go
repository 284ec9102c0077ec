package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync/atomic"
	"testing"
)

// ADD of a URL: fetched, digested by content; with --checksum, checked,
// and not fetched at all on a cache hit.
func TestBuildAddURL(t *testing.T) {
	var hits atomic.Int32
	body := "remote file\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/files/data.txt" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	sum := sha256.Sum256([]byte(body))
	good := "sha256:" + hex.EncodeToString(sum[:])
	url := srv.URL + "/files/data.txt"

	b := newBench(t, nil)
	r := b.mustBuild("FROM "+busybox+"\nADD "+url+" /dl/\n", PlanOptions{}, BuildOptions{})
	b.exec.mu.Lock()
	dl := b.exec.copies[0].Downloads
	b.exec.mu.Unlock()
	if len(dl) != 1 || dl[0].Name != "data.txt" || dl[0].URL != url {
		t.Fatalf("downloads %+v", dl)
	}
	if _, err := os.Stat(dl[0].Path); !os.IsNotExist(err) {
		t.Errorf("the download is removed after the step")
	}
	r = b.mustBuild("FROM "+busybox+"\nADD "+url+" /dl/\n", PlanOptions{}, BuildOptions{})
	if !slices.Equal(r.cached(), []int{2}) {
		t.Errorf("same content hits: %v", r.cached())
	}
	body = "changed\n"
	r = b.mustBuild("FROM "+busybox+"\nADD "+url+" /dl/\n", PlanOptions{}, BuildOptions{})
	if len(r.cached()) != 0 {
		t.Errorf("changed content misses: %v", r.cached())
	}

	body = "remote file\n"
	src := "FROM " + busybox + "\nADD --checksum=" + good + " " + url + " /dl/\n"
	b.mustBuild(src, PlanOptions{}, BuildOptions{})
	before := hits.Load()
	r = b.mustBuild(src, PlanOptions{}, BuildOptions{})
	if hits.Load() != before || !slices.Equal(r.cached(), []int{2}) {
		t.Errorf("a --checksum hit fetched %d times, cached %v", hits.Load()-before, r.cached())
	}
	bad := b.build("FROM "+busybox+"\nRUN x\nADD --checksum=sha256:"+hex.EncodeToString(make([]byte, 32))+" "+url+" /dl/\n", PlanOptions{}, BuildOptions{})
	if !errors.Is(bad.err, ErrBadSource) {
		t.Errorf("checksum mismatch: %v", bad.err)
	}
	missing := b.build("FROM "+busybox+"\nADD "+srv.URL+"/nope.txt /dl/\n", PlanOptions{}, BuildOptions{})
	if !errors.Is(missing.err, ErrBadSource) {
		t.Errorf("404: %v", missing.err)
	}
}
