package build

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// progress writes podman's build output: "[i/n] STEP j/m: INSTRUCTION"
// (the stage prefix only when there are several stages), "--> Using cache
// ID", "--> SHORTID", "COMMIT NAME", "Successfully tagged NAME" and the image
// ID last; quiet writes only the ID. Lines are written whole, so stages that
// run at the same time interleave by line, never within one.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	quiet  bool
	stages int
}

func (p *progress) printf(format string, args ...any) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *progress) prefix(pos int) string {
	if p.stages > 1 {
		return fmt.Sprintf("[%d/%d] ", pos+1, p.stages)
	}
	return ""
}

func (p *progress) step(pos, i, n int, text string) {
	p.printf("%sSTEP %d/%d: %s\n", p.prefix(pos), i, n, text)
}

func (p *progress) usingCache(id string) { p.printf("--> Using cache %s\n", id) }

func (p *progress) result(id string) { p.printf("--> %s\n", shortID(id)) }

func (p *progress) commit(pos int, names []string) {
	name := ""
	if len(names) > 0 {
		name = " " + names[0]
	}
	p.printf("%sCOMMIT%s\n", p.prefix(pos), name)
}

func (p *progress) final(res *Result) {
	for _, n := range res.Tagged {
		p.printf("Successfully tagged %s\n", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s\n", res.ImageID)
}

// shortID is podman's 11-character form of an image ID.
func shortID(id string) string {
	if len(id) > 11 {
		return id[:11]
	}
	return id
}

// output returns the writer a RUN's output goes to.
func (p *progress) output() *lineWriter {
	if p.quiet {
		return &lineWriter{p: nil}
	}
	return &lineWriter{p: p}
}

// lineWriter passes a RUN's output on a whole line at a time.
type lineWriter struct {
	p   *progress
	buf []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	if l.p == nil {
		return len(b), nil
	}
	l.buf = append(l.buf, b...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		l.p.mu.Lock()
		_, err := l.p.w.Write(l.buf[:i+1])
		l.p.mu.Unlock()
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
		if err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

// Flush writes what is left of a last line without a newline.
func (l *lineWriter) Flush() {
	if l.p == nil || len(l.buf) == 0 {
		return
	}
	l.p.mu.Lock()
	l.p.w.Write(l.buf)
	l.p.mu.Unlock()
	l.buf = nil
}
