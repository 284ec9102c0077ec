package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// freeTCPPort is a TCP port free on the host's loopback now.
func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until a published port accepts connections.
func waitListening(addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing answers on %s", addr)
}

// sendThrough sends size bytes to a container's sink through its
// published port and returns when the sink has read them all (it closes
// the connection at end of input).
func sendThrough(addr string, size int64) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, c)
	return time.Since(start), nil
}

// netServerSource is the server the network benchmark copies into both
// engines' containers: port 5000 reads each connection to its end (the
// sink), port 5001 answers one byte with one byte (a connect and a round
// trip). busybox's nc and httpd are too slow to measure the networks.
const netServerSource = `package main

import (
	"io"
	"net"
)

func serve(port string, handle func(net.Conn)) {
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		panic(err)
	}
	for {
		c, err := l.Accept()
		if err == nil {
			go func() { defer c.Close(); handle(c) }()
		}
	}
}

func main() {
	go serve("5001", func(c net.Conn) {
		b := make([]byte, 1)
		if _, err := c.Read(b); err == nil {
			c.Write(b)
		}
	})
	serve("5000", func(c net.Conn) { io.CopyBuffer(io.Discard, c, make([]byte, 1<<20)) })
}
`

// buildNetServer builds the static server into the bench directory.
func (b *bench) buildNetServer() (string, error) {
	dir := filepath.Join(b.root, "netserver")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(netServerSource), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module netserver\n\ngo 1.21\n"), 0o644)
	bin := filepath.Join(dir, "netserver")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the network server: %v: %s", err, out)
	}
	return bin, os.Chmod(bin, 0o755)
}

// roundTrip connects, sends a byte and reads the answer.
func roundTrip(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	b := []byte{1}
	if _, err := c.Write(b); err != nil {
		return err
	}
	_, err = io.ReadFull(c, b)
	return err
}

// network measures, for skiff (pasta) and podman (slirp4netns with
// rootlessport, its rootless default in 4.3.1): throughput of 1 GiB sent
// through a published port, 1000 sequential connects, and what network
// setup adds to `run --rm`.
func (b *bench) network(n int) error {
	if err := b.warm(); err != nil {
		return err
	}
	const size = 1 << 30
	server, err := b.buildNetServer()
	if err != nil {
		return err
	}
	for _, e := range b.engines() {
		port, err := freeTCPPort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		connPort, err := freeTCPPort()
		if err != nil {
			return err
		}
		args := []string{"create", "--name", "netprobe", "-p", fmt.Sprintf("%d:5000", port), "-p", fmt.Sprintf("%d:5001", connPort), busyboxImage, "/netserver"}
		if _, err := b.run(e, args...); err != nil {
			return err
		}
		if _, err := b.run(e, "cp", server, "netprobe:/netserver"); err != nil {
			return err
		}
		if _, err := b.run(e, "start", "netprobe"); err != nil {
			return err
		}
		if err := waitListening("127.0.0.1:" + strconv.Itoa(connPort)); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		var best time.Duration
		for i := 0; i < 3; i++ {
			d, err := sendThrough(addr, size)
			if err != nil {
				return fmt.Errorf("%s: sending 1 GiB: %w", e.name, err)
			}
			if best == 0 || d < best {
				best = d
			}
			time.Sleep(200 * time.Millisecond)
		}
		start := time.Now()
		for i := 0; i < 1000; i++ {
			if err := roundTrip("127.0.0.1:" + strconv.Itoa(connPort)); err != nil {
				return fmt.Errorf("%s: connect %d: %w", e.name, i, err)
			}
		}
		connects := time.Since(start)
		fmt.Printf("%s: 1 GiB through a published port: best of 3 %.2fs = %.0f MiB/s; 1000 sequential connects with a one-byte round trip: %.3fs (%.0f µs each)\n",
			e.name, best.Seconds(), float64(size)/(1<<20)/best.Seconds(), connects.Seconds(), float64(connects.Microseconds())/1000)
		if _, err := b.run(e, "rm", "-f", "netprobe"); err != nil {
			return err
		}
	}
	// Network setup in run: default network against --network none.
	times := map[string][]time.Duration{}
	for i := 0; i < n; i++ {
		for _, e := range b.engines() {
			for _, mode := range []string{"default", "none"} {
				args := []string{"run", "--rm", busyboxImage, "true"}
				if mode == "none" {
					args = []string{"run", "--rm", "--network", "none", busyboxImage, "true"}
				}
				d, err := b.run(e, args...)
				if err != nil {
					return err
				}
				times[e.name+" "+mode] = append(times[e.name+" "+mode], d)
			}
		}
	}
	for _, e := range b.engines() {
		def, none := median(times[e.name+" default"]), median(times[e.name+" none"])
		fmt.Printf("%s: run --rm true, median of %d: default network %.3fs, --network none %.3fs: network setup %.3fs\n",
			e.name, n, def.Seconds(), none.Seconds(), (def - none).Seconds())
	}
	return nil
}
