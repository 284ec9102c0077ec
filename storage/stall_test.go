package storage

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestStallWatchCancelsOnlyAStalledWait(t *testing.T) {
	ctx, w := newStallWatch(context.Background(), "reg.example:5000", 100*time.Millisecond)
	// Between waits nothing is watched: disk work may take its time.
	time.Sleep(250 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatal("the watch fired with nothing to wait for")
	}
	// A wait that makes progress is left alone.
	wt := w.begin("blob sha256:moving", false)
	for range 10 {
		time.Sleep(30 * time.Millisecond)
		w.touch(wt)
	}
	if ctx.Err() != nil {
		t.Fatal("the watch fired on a wait that made progress")
	}
	w.end(wt)
	// A wait that makes none ends the context with a StallError.
	w.begin("blob sha256:stuck", false)
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a stalled wait did not end the context")
	}
	err := w.stop(ctx, context.Canceled)
	var stall *StallError
	if !errors.As(err, &stall) || !errors.Is(err, ErrStalled) || stall.What != "blob sha256:stuck" || stall.Registry != "reg.example:5000" {
		t.Fatalf("stop returned %v", err)
	}
}

func TestStallWatchOffWatchesNothing(t *testing.T) {
	ctx, w := newStallWatch(context.Background(), "r", -1)
	w.begin("anything", true)
	time.Sleep(50 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatal("a watch with no timeout fired")
	}
	if err := w.stop(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDescribeRequest(t *testing.T) {
	for raw, want := range map[string]string{
		"http://r/v2/":                         "the answer to GET /v2/ (its API check)",
		"http://r/v2/a/b/manifests/latest":     "manifest latest",
		"http://r/v2/a/blobs/sha256:abc":       "blob sha256:abc",
		"http://r/v2/a/tags/list":              "the tag list",
		"https://auth.example/token?service=x": "the answer to https://auth.example/token",
	} {
		u, _ := url.Parse(raw)
		if got := describeRequest(u); got != want {
			t.Errorf("describeRequest(%s) = %q, want %q", raw, got, want)
		}
	}
}
