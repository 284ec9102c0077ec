package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	"fmt"
	"io"
	"net"
	"os"
	"time"
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

// client HOST: 1 GiB to HOST:5000 (best of 3), then 1000 connects with a
// one-byte round trip to HOST:5001; prints MiB/s and µs per connect.
func client(host string) {
	const size = 1 << 30
	buf := make([]byte, 1<<20)
	var best time.Duration
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", host+":5000")
		if err != nil {
			panic(err)
		}
		start := time.Now()
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				panic(err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		c, err := net.Dial("tcp", host+":5001")
		if err != nil {
			panic(err)
		}
		b := []byte{1}
		c.Write(b)
		io.ReadFull(c, b)
		c.Close()
	}
	fmt.Printf("%.0f %.0f\n", float64(size)/(1<<20)/best.Seconds(), float64(time.Since(start).Microseconds())/1000)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "client" {
		client(os.Args[2])
		return
	}
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

// portVariant is one way of publishing a port: an engine and its
// --network.
type portVariant struct {
	engine  engine
	label   string
	network []string
}

// network measures published ports and network setup. Ports, for each of
// skiff with pasta (its default), skiff with slirp4netns (its API's port
// forwarding), podman 4.3.1's default (slirp4netns with rootlessport,
// rootlesskit's builtin port driver) and podman with slirp4netns's port
// handler: throughput of 1 GiB sent through a published port, 1000
// sequential connects, and the memory of the helper processes. Then what
// network setup adds to `run --rm`.
func (b *bench) network(n int) error {
	if err := b.warm(); err != nil {
		return err
	}
	server, err := b.buildNetServer()
	if err != nil {
		return err
	}
	engines := b.engines()
	variants := []portVariant{
		{engines[0], "skiff, pasta", nil},
		{engines[0], "skiff, slirp4netns", []string{"--network", "slirp4netns"}},
		{engines[1], "podman, slirp4netns + rootlessport", nil},
		{engines[1], "podman, slirp4netns port handler", []string{"--network", "slirp4netns:port_handler=slirp4netns"}},
	}
	if err := loopbackCeiling(); err != nil {
		return err
	}
	for _, v := range variants {
		if err := b.portProbe(v, server); err != nil {
			return err
		}
	}
	// Network setup in run: default network against --network none.
	times := map[string][]time.Duration{}
	for i := 0; i < n; i++ {
		for _, e := range engines {
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
	for _, e := range engines {
		def, none := median(times[e.name+" default"]), median(times[e.name+" none"])
		fmt.Printf("%s: run --rm true, median of %d: default network %.3fs, --network none %.3fs: network setup %.3fs\n",
			e.name, n, def.Seconds(), none.Seconds(), (def - none).Seconds())
	}
	return nil
}

const gib = 1 << 30

// loopbackCeiling sends 1 GiB over the host's loopback to a sink in this
// process: no container, no relay, the most any published port could give.
func loopbackCeiling() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.CopyBuffer(io.Discard, c, make([]byte, 1<<20)); c.Close() }()
		}
	}()
	var best time.Duration
	for i := 0; i < 3; i++ {
		d, err := sendThrough(l.Addr().String(), gib)
		if err != nil {
			return err
		}
		if best == 0 || d < best {
			best = d
		}
	}
	fmt.Printf("the host's loopback, no container (the ceiling): 1 GiB best of 3 %.0f MiB/s\n", float64(gib)/(1<<20)/best.Seconds())
	return nil
}

// portProbe runs the server with two published ports and measures them.
func (b *bench) portProbe(v portVariant, server string) error {
	e := v.engine
	port, err := freeTCPPort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	connPort, err := freeTCPPort()
	if err != nil {
		return err
	}
	args := append([]string{"create", "--name", "netprobe", "-p", fmt.Sprintf("%d:5000", port), "-p", fmt.Sprintf("%d:5001", connPort)}, v.network...)
	if _, err := b.run(e, append(args, busyboxImage, "/netserver")...); err != nil {
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
		d, err := sendThrough(addr, gib)
		if err != nil {
			return fmt.Errorf("%s: sending 1 GiB: %w", v.label, err)
		}
		if best == 0 || d < best {
			best = d
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		if err := roundTrip("127.0.0.1:" + strconv.Itoa(connPort)); err != nil {
			return fmt.Errorf("%s: connect %d: %w", v.label, i, err)
		}
	}
	connects := time.Since(start)
	rss := b.helperRSS()
	fmt.Printf("%s: 1 GiB through a published port: best of 3 %.2fs = %.0f MiB/s; 1000 sequential connects with a one-byte round trip: %.3fs (%.0f µs each); network helpers' RSS %d kB\n",
		v.label, best.Seconds(), float64(gib)/(1<<20)/best.Seconds(), connects.Seconds(), float64(connects.Microseconds())/1000, rss)
	_, err = b.run(e, "rm", "-f", "netprobe")
	return err
}

// helperRSS sums the resident memory of the user's network helpers
// (pasta, slirp4netns, rootlessport, aardvark-dns).
func (b *bench) helperRSS() int {
	total := 0
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		status, err := os.ReadFile(filepath.Join("/proc", p.Name(), "status"))
		if err != nil {
			continue
		}
		var name string
		var uid, rss int
		for _, line := range strings.Split(string(status), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) > 1 && f[0] == "Name:":
				name = f[1]
			case len(f) > 1 && f[0] == "Uid:":
				uid, _ = strconv.Atoi(f[1])
			case len(f) > 1 && f[0] == "VmRSS:":
				rss, _ = strconv.Atoi(f[1])
			}
		}
		if uid == b.uid && (strings.HasPrefix(name, "pas") || name == "slirp4netns" || strings.HasPrefix(name, "rootlessport") || name == "aardvark-dns") {
			total += rss
		}
	}
	return total
}

// userNetwork measures a user-defined network, skiff's (netavark bridges
// in skiff's hub namespace, aardvark-dns) and podman's (netavark in its
// rootless network namespace): from one container to another by name,
// 1 GiB and 1000 connects; the setup a run on the network adds against
// --network none; the helpers' memory with two containers on it.
func (b *bench) userNetwork(n int) error {
	if err := b.warm(); err != nil {
		return err
	}
	server, err := b.buildNetServer()
	if err != nil {
		return err
	}
	for _, e := range b.engines() {
		if _, err := b.run(e, "network", "create", "benchnet"); err != nil {
			return err
		}
		for _, name := range []string{"sink", "client"} {
			if _, err := b.run(e, "create", "--name", name, "--network", "benchnet", busyboxImage, "/netserver"); err != nil {
				return err
			}
			if _, err := b.run(e, "cp", server, name+":/netserver"); err != nil {
				return err
			}
			if _, err := b.run(e, "start", name); err != nil {
				return err
			}
		}
		time.Sleep(500 * time.Millisecond)
		out, err := b.output(e, "exec", "client", "/netserver", "client", "sink")
		if err != nil {
			return err
		}
		var mibs, us float64
		if _, err := fmt.Sscan(out, &mibs, &us); err != nil {
			return fmt.Errorf("%s: the client printed %q", e.name, out)
		}
		rss := b.helperRSS()
		var onNet, none []time.Duration
		for i := 0; i < n; i++ {
			d, err := b.run(e, "run", "--rm", "--network", "benchnet", busyboxImage, "true")
			if err != nil {
				return err
			}
			onNet = append(onNet, d)
			if d, err = b.run(e, "run", "--rm", "--network", "none", busyboxImage, "true"); err != nil {
				return err
			}
			none = append(none, d)
		}
		if _, err := b.run(e, "rm", "-f", "sink", "client"); err != nil {
			return err
		}
		if _, err := b.run(e, "network", "rm", "benchnet"); err != nil {
			return err
		}
		fmt.Printf("%s: container to container by name on a user-defined network: 1 GiB best of 3 %.0f MiB/s; 1000 connects %.0f µs each; network helpers' RSS with two containers %d kB; run --rm true on the network %.3fs vs --network none %.3fs (median of %d): setup %.3fs\n",
			e.name, mibs, us, rss, median(onNet).Seconds(), median(none).Seconds(), n, (median(onNet) - median(none)).Seconds())
	}
	return nil
}
