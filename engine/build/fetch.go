package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// download fetches an ADD URL into a temporary file and returns it with
// the "sha256:..." digest of its content, refusing a --checksum mismatch.
// The file is named in the destination after the URL's last path element,
// as docker names it; its modification time is the one the server gave.
func (b *builder) download(ctx context.Context, rawURL, checksum string) (Download, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Download{}, "", fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	name := path.Base(u.Path)
	if name == "" || name == "/" || name == "." {
		return Download{}, "", fmt.Errorf("%w: cannot determine a file name from %s", ErrBadSource, rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Download{}, "", fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	resp, err := b.o.HTTPClient.Do(req)
	if err != nil {
		return Download{}, "", fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Download{}, "", fmt.Errorf("%w: %s: %s", ErrBadSource, rawURL, resp.Status)
	}
	f, err := os.CreateTemp(b.o.TempDir, "skiff-add-")
	if err != nil {
		return Download{}, "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return Download{}, "", fmt.Errorf("%w: %s: %v", ErrBadSource, rawURL, err)
	}
	// The file's time is the Last-Modified header's (docker's reference),
	// else the epoch, as buildah gives it.
	mtime := time.Unix(0, 0)
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mtime = lm
	}
	_ = os.Chtimes(f.Name(), mtime, mtime)
	sum := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if checksum != "" && !strings.EqualFold(checksum, sum) {
		os.Remove(f.Name())
		return Download{}, "", fmt.Errorf("%w: %s: checksum mismatch: want %s, got %s", ErrBadSource, rawURL, checksum, sum)
	}
	return Download{URL: rawURL, Path: f.Name(), Name: name}, sum, nil
}
