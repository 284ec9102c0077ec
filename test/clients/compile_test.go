package clients

import (
	"testing"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// TestClientsBuild makes the module's clients compile and construct
// against a socket that does not exist: nothing is dialled until a request
// is made. The tests that run containers through skiff's API service come
// with it.
func TestClientsBuild(t *testing.T) {
	const host = "unix:///nonexistent/skiff.sock"
	c, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatalf("moby client: %v", err)
	}
	defer c.Close()
	if got := c.DaemonHost(); got != host {
		t.Fatalf("moby client host = %q, want %q", got, host)
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:      "127.0.0.1:5000/skiff/busybox:latest",
			Cmd:        []string{"true"},
			WaitingFor: wait.ForExit(),
		},
	}
	if req.Started {
		t.Fatal("a request is not started until asked")
	}
}
