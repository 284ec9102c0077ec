package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort is a TCP or UDP port free on the host's loopback now.
func freePort(t *testing.T, proto string) int {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	var last error
	for i := 0; i < 50; i++ {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func udpEcho(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256)
	for i := 0; i < 30; i++ {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no UDP echo from %s", addr)
	return ""
}

// TestPublishedPorts: an HTTP server and a UDP echo in containers are
// reached from the host's loopback through -p and -P; ps, port and inspect
// show the ports; a port in use is refused with no container left; the
// pasta helpers end with the containers.
func TestPublishedPorts(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	web, udp := freePort(t, "tcp"), freePort(t, "udp")
	e.ok("run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", web), busybox,
		"sh", "-c", "mkdir /www && echo served-by-skiff > /www/index.html && exec httpd -f -p 80 -h /www")
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", web)); got != "served-by-skiff\n" {
		t.Fatalf("through -p: %q", got)
	}
	// busybox has no UDP server: a static echo server, built here and
	// copied in. Debian's pasta (2023-03-09) forwards UDP only to the same
	// port number, so the server listens on the host port.
	e.ok("create", "--name", "echo", "-p", fmt.Sprintf("%d:%d/udp", udp, udp), busybox, "/udpecho", strconv.Itoa(udp))
	e.ok("cp", udpEchoBinary(t, e), "echo:/udpecho")
	e.ok("start", "echo")
	if got := udpEcho(t, fmt.Sprintf("127.0.0.1:%d", udp), "ping-udp"); got != "ping-udp" {
		t.Fatalf("UDP echo: %q", got)
	}
	if got := strings.TrimSpace(e.ok("port", "web")); got != fmt.Sprintf("80/tcp -> 127.0.0.1:%d", web) {
		t.Fatalf("port: %q", got)
	}
	if got := strings.TrimSpace(e.ok("port", "echo", fmt.Sprintf("%d/udp", udp))); got != fmt.Sprintf("0.0.0.0:%d", udp) {
		t.Fatalf("port echo 7/udp: %q", got)
	}
	if got := e.ok("ps", "--format", "{{.Names}} {{.Ports}}"); !strings.Contains(got, fmt.Sprintf("web 127.0.0.1:%d->80/tcp", web)) {
		t.Fatalf("ps ports:\n%s", got)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", `{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`, "web")); got != strconv.Itoa(web) {
		t.Fatalf("inspect ports: %q", got)
	}
	// Taken: by the running container's pasta.
	e.fails(125, "port already in use", "run", "--rm", "--name", "clash", "-p", fmt.Sprintf("127.0.0.1:%d:80", web), busybox, "true")
	if strings.Contains(e.ok("ps", "-a", "--format", "{{.Names}}"), "clash") {
		t.Fatal("a refused port left a container")
	}
	e.fails(125, "-p", "run", "--rm", "-p", "80:70000", busybox, "true")
	e.fails(125, "-p", "run", "--rm", "-p", "80:80/sctp", busybox, "true")
	e.fails(125, "needs the pasta or slirp4netns network", "run", "--rm", "--network", "none", "-p", "80", busybox, "true")
	// -P publishes the image's EXPOSE on free ports.
	e.ok("commit", "-c", "EXPOSE 80", "-c", `CMD ["sh", "-c", "mkdir -p /www && echo exposed > /www/index.html && exec httpd -f -p 80 -h /www"]`, "web", "localhost/exposing:v1")
	e.ok("run", "-d", "--name", "auto", "-P", "localhost/exposing:v1")
	hostPort := strings.TrimSpace(e.ok("port", "auto", "80"))
	if got := httpGet(t, "http://"+strings.Replace(hostPort, "0.0.0.0", "127.0.0.1", 1)+"/"); got != "exposed\n" {
		t.Fatalf("through -P (%s): %q", hostPort, got)
	}
	e.ok("rm", "-f", "web", "echo", "auto")
	waitFor(t, func() bool {
		return len(containerProcs(e.uid(), "passt.avx2"))+len(containerProcs(e.uid(), "pasta")) == 0
	})
	waitNoProcesses(t, e)
}

// TestNetworkModes: the default (pasta) network has an interface besides
// lo and reaches the host's loopback as host.containers.internal; none has
// only lo; host sees the host's interfaces; --dns, --dns-search and
// --add-host shape resolv.conf and hosts.
func TestNetworkModes(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from-the-host\n") })}
	go srv.Serve(l)
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if got := e.ok("run", "--rm", busybox, "wget", "-qO-", fmt.Sprintf("http://host.containers.internal:%d/", port)); got != "from-the-host\n" {
		t.Fatalf("host.containers.internal: %q", got)
	}
	ifaces := func(args ...string) []string {
		out := e.ok(append(append([]string{"run", "--rm"}, args...), busybox, "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1")...)
		var names []string
		for _, f := range strings.Fields(out) {
			names = append(names, f)
		}
		return names
	}
	if got := ifaces("--network", "none"); strings.Join(got, " ") != "lo" {
		t.Fatalf("--network none has %v", got)
	}
	if got := ifaces(); len(got) != 2 {
		t.Fatalf("the default network has %v, want lo and one more", got)
	}
	// pasta runs IPv4-only unless given options of the user's
	// (--network pasta:OPTS), which replace skiff's.
	if got := e.ok("run", "--rm", busybox, "sh", "-c", "ip -6 addr show scope global; cat /sys/class/net/eth0/mtu"); got != "65520\n" {
		t.Fatalf("the default network: %q, want no global IPv6 address and pasta's MTU", got)
	}
	if got := e.ok("run", "--rm", "--network", "pasta:--mtu,1500", busybox, "cat", "/sys/class/net/eth0/mtu"); got != "1500\n" {
		t.Fatalf("--network pasta:--mtu,1500: MTU %q", got)
	}
	e.fails(125, "unrecognized option '--bogus'", "run", "--rm", "--network", "pasta:--bogus", busybox, "true")
	// docker's name for the default network.
	if got := ifaces("--network", "bridge"); len(got) != 2 {
		t.Fatalf("--network bridge has %v, want the default network's", got)
	}
	host, _ := os.ReadFile("/proc/net/dev")
	hostIfaces := 0
	for _, line := range strings.Split(string(host), "\n")[2:] {
		if strings.Contains(line, ":") {
			hostIfaces++
		}
	}
	if got := ifaces("--network", "host"); len(got) != hostIfaces {
		t.Fatalf("--network host sees %v, the host has %d interfaces", got, hostIfaces)
	}
	out := e.ok("run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.test", "--add-host", "db.internal:192.0.2.10", busybox, "cat", "/etc/resolv.conf", "/etc/hosts")
	for _, want := range []string{"nameserver 192.0.2.53", "search example.test", "192.0.2.10\tdb.internal"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q:\n%s", want, out)
		}
	}
	if got := strings.TrimSpace(e.ok("info", "--format", "{{.Host.NetworkBackend}}")); got != "pasta" {
		t.Fatalf("info reports the network backend %q", got)
	}
	e.fails(125, "--network", "run", "--rm", "--network", "bogus", busybox, "true")
	e.fails(125, "--dns", "run", "--rm", "--dns", "not-an-ip", busybox, "true")
	e.fails(125, "--add-host", "run", "--rm", "--add-host", "nocolon", busybox, "true")
	// container:NAME shares another container's network.
	e.ok("run", "-d", "--name", "netowner", busybox, "sleep", "60")
	if got := ifaces("--network", "container:netowner"); len(got) != 2 {
		t.Fatalf("container:netowner has %v", got)
	}
	e.ok("rm", "-f", "netowner")
	waitNoProcesses(t, e)
}

const udpEchoSource = `package main

import (
	"net"
	"os"
)

func main() {
	c, err := net.ListenPacket("udp", ":"+os.Args[1])
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 65536)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err == nil {
			c.WriteTo(buf[:n], addr)
		}
	}
}
`

// udpEchoBinary builds a static UDP echo server (its port the argument).
func udpEchoBinary(t *testing.T, e *env) string {
	t.Helper()
	return buildStatic(t, e, "udpecho", udpEchoSource)
}

// TestSlirp4netns: the fallback network, chosen by containers.conf (and
// reported by info) or --network: a published port and the host's
// loopback work through it, and its helper ends with the container.
func TestSlirp4netns(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("home/.config/containers/containers.conf", "[network]\ndefault_rootless_network_cmd = \"slirp4netns\"\n")
	e.chownAll()
	if got := strings.TrimSpace(e.ok("info", "--format", "{{.Host.NetworkBackend}}")); got != "slirp4netns" {
		t.Fatalf("info with containers.conf choosing slirp4netns: %q", got)
	}
	web := freePort(t, "tcp")
	e.ok("run", "-d", "--name", "sweb", "-p", fmt.Sprintf("%d:80", web), busybox,
		"sh", "-c", "mkdir /www && echo through-slirp > /www/index.html && exec httpd -f -p 80 -h /www")
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", web)); got != "through-slirp\n" {
		t.Fatalf("through slirp4netns: %q", got)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.HostConfig.NetworkMode}}", "sweb")); got != "slirp4netns" {
		t.Fatalf("network mode %q", got)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host-via-slirp\n") })}
	go srv.Serve(l)
	defer srv.Close()
	if got := e.ok("run", "--rm", "--network", "slirp4netns", busybox, "wget", "-qO-", fmt.Sprintf("http://host.containers.internal:%d/", l.Addr().(*net.TCPAddr).Port)); got != "host-via-slirp\n" {
		t.Fatalf("host.containers.internal through slirp4netns: %q", got)
	}
	e.ok("rm", "-f", "sweb")
	waitFor(t, func() bool { return len(containerProcs(e.uid(), "slirp4netns")) == 0 })
	waitNoProcesses(t, e)
}

// TestUserDefinedNetworks: containers on a network made with network
// create reach each other by name and by alias (aardvark-dns on the
// bridge's gateway), keep their published ports and their way out, join
// and leave networks while they run; an internal network has no way out;
// bad input changes nothing; no helper is left once the containers are
// gone.
func TestUserDefinedNetworks(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	if got := e.ok("network", "create", "appnet"); got != "appnet\n" {
		t.Fatalf("network create: %q", got)
	}
	e.ok("network", "create", "--internal", "--subnet", "10.91.0.0/24", "--label", "team=qa", "isolated")
	ls := e.ok("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Subnet}} {{.Internal}}")
	if !strings.Contains(ls, "appnet bridge 10.89.") || !strings.Contains(ls, "isolated bridge 10.91.0.0/24 true") {
		t.Fatalf("network ls:\n%s", ls)
	}
	if got := e.ok("network", "inspect", "--format", "{{.Name}} {{(index .Subnets 0).Gateway}} {{.DNSEnabled}}", "isolated"); got != "isolated 10.91.0.1 true\n" {
		t.Fatalf("network inspect: %q", got)
	}

	e.ok("run", "-d", "--name", "web", "--network", "appnet", "--network-alias", "webalias", busybox,
		"sh", "-c", "mkdir /www && echo served-on-appnet > /www/index.html && exec httpd -f -p 80 -h /www")
	for _, name := range []string{"web", "webalias"} {
		if got := e.ok("run", "--rm", "--network", "appnet", busybox, "wget", "-qO-", "http://"+name+"/"); got != "served-on-appnet\n" {
			t.Fatalf("by %s: %q", name, got)
		}
	}
	webIP := strings.TrimSpace(e.ok("inspect", "--format", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "web"))
	if !strings.HasPrefix(webIP, "10.89.") {
		t.Fatalf("web's address on appnet: %q", webIP)
	}
	// On a network, published ports and the way out work as on the default.
	port := freePort(t, "tcp")
	e.ok("run", "-d", "--name", "pub", "--network", "appnet", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), busybox,
		"sh", "-c", "mkdir /www && echo published-from-appnet > /www/index.html && exec httpd -f -p 80 -h /www")
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "published-from-appnet\n" {
		t.Fatalf("published port of a container on a network: %q", got)
	}
	if got := e.ok("exec", "pub", "wget", "-qO-", "http://web/"); got != "served-on-appnet\n" {
		t.Fatalf("pub to web: %q", got)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host-from-appnet\n") })}
	go srv.Serve(l)
	defer srv.Close()
	hostURL := fmt.Sprintf("http://host.containers.internal:%d/", l.Addr().(*net.TCPAddr).Port)
	if got := e.ok("exec", "pub", "wget", "-qO-", hostURL); got != "host-from-appnet\n" {
		t.Fatalf("the host from a container on a network: %q", got)
	}

	// connect and disconnect a running container.
	e.ok("run", "-d", "--name", "late", busybox, "sleep", "60")
	e.ok("network", "connect", "--alias", "latealias", "appnet", "late")
	lateIP := strings.TrimSpace(e.ok("inspect", "--format", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "late"))
	if got := e.ok("exec", "late", "wget", "-qO-", "http://webalias/"); got != "served-on-appnet\n" {
		t.Fatalf("after connect: %q", got)
	}
	if out := e.ok("exec", "web", "nslookup", "latealias"); !strings.Contains(out, lateIP) {
		t.Fatalf("latealias is not %s:\n%s", lateIP, out)
	}
	e.fails(125, "already connected", "network", "connect", "appnet", "late")
	e.ok("network", "disconnect", "appnet", "late")
	// (No lookup of the gone name: aardvark-dns would ask the host's
	// resolvers, and the tests talk to nothing but 127.0.0.1.)
	if got := e.ok("inspect", "--format", "{{len .NetworkSettings.Networks}}", "late"); got != "0\n" {
		t.Fatalf("late's networks after disconnect: %q", got)
	}
	if got := e.ok("exec", "late", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '"); strings.Contains(got, "eth1") {
		t.Fatalf("late keeps its appnet interface: %q", got)
	}
	e.fails(125, "not connected", "network", "disconnect", "appnet", "late")

	// internal: the bridge only, no way out, no ports.
	e.ok("run", "-d", "--name", "inner", "--network", "isolated", busybox, "sleep", "60")
	if got := e.ok("exec", "inner", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '"); got != "eth0 lo " {
		t.Fatalf("on an internal network: %q", got)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.NetworkSettings.Networks.isolated.IPAddress}}", "inner")); got != "10.91.0.2" {
		t.Fatalf("the first address of 10.91.0.0/24: %q", got)
	}
	if r := e.run("run", "--rm", "--network", "isolated", busybox, "wget", "-T", "2", "-qO-", hostURL); r.code == 0 {
		t.Fatalf("an internal network reached the host:\n%s", r)
	}
	e.fails(125, "needs the pasta or slirp4netns network", "run", "--rm", "--network", "isolated", "-p", "80", busybox, "true")

	// Bad input: one line, exit 125, nothing made.
	before := e.ok("ps", "-a", "-q")
	e.fails(125, `no such network: "nosuchnet"`, "run", "--rm", "--network", "nosuchnet", busybox, "true")
	e.fails(125, "--network-alias and --ip need a user-defined network", "run", "--rm", "--network-alias", "x", busybox, "true")
	e.fails(125, "--ip", "run", "--rm", "--network", "isolated", "--ip", "10.92.0.5", busybox, "true")
	e.fails(125, "IP address is in use", "run", "--rm", "--network", "isolated", "--ip", "10.91.0.2", busybox, "true")
	if after := e.ok("ps", "-a", "-q"); after != before {
		t.Fatalf("refused runs left containers:\n%s\nwas:\n%s", after, before)
	}
	e.fails(125, "network already exists", "network", "create", "appnet")
	e.fails(125, "--subnet", "network", "create", "--subnet", "10.1.2.3", "other")
	e.fails(125, "overlaps", "network", "create", "--subnet", "10.91.0.0/16", "other")
	e.fails(125, "network mode", "network", "create", "host")
	e.fails(125, "network name", "network", "create", "bad/name")
	e.fails(125, "in use", "network", "rm", "appnet")
	if got := e.ok("network", "ls", "-q"); got != "appnet\nisolated\n" {
		t.Fatalf("after refused creates: %q", got)
	}
	// Completion offers the networks.
	for _, verb := range [][]string{{"run", "--network"}, {"network", "inspect"}, {"network", "rm"}, {"network", "connect"}} {
		if r := e.run(append(append([]string{"__complete"}, verb...), "app")...); !strings.Contains(r.stdout, "appnet") {
			t.Fatalf("completion for %v lacks appnet: %q", verb, r.stdout)
		}
	}
	e.ok("network", "create", "--label", "team=qa", "spare")
	if got := e.ok("network", "prune", "-f", "--filter", "label=team=qa"); got != "spare\n" {
		t.Fatalf("network prune: %q", got)
	}

	// rm -f takes the containers on the network with it.
	e.ok("network", "create", "doomed")
	e.ok("run", "-d", "--name", "ondoomed", "--network", "doomed", busybox, "sleep", "60")
	if got := e.ok("network", "rm", "-f", "doomed"); got != "doomed\n" {
		t.Fatalf("network rm -f: %q", got)
	}
	if strings.Contains(e.ok("ps", "-a", "--format", "{{.Names}}"), "ondoomed") {
		t.Fatal("network rm -f left its container")
	}
	e.ok("rm", "-f", "web", "pub", "late", "inner")
	waitNoProcesses(t, e)
	if got := e.ok("network", "rm", "appnet", "isolated"); got != "appnet\nisolated\n" {
		t.Fatalf("network rm: %q", got)
	}
	e.fails(125, "no such network", "network", "inspect", "appnet")
}

// TestClientSourceAddress: behind a port published through pasta, the
// server sees the client's real address: from a test host in a network
// namespace made here (198.51.100.2, on a veth to the host) and from the
// host's loopback.
func TestClientSourceAddress(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	ns := fmt.Sprintf("skiffsrc%d", os.Getpid())
	hostIf, nsIf := fmt.Sprintf("skh%d", os.Getpid()%100000), fmt.Sprintf("skc%d", os.Getpid()%100000)
	sh := func(cmd string) {
		t.Helper()
		if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	sh(fmt.Sprintf("ip netns add %s", ns))
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "link", "del", hostIf).Run()
	})
	sh(fmt.Sprintf("ip link add %s type veth peer name %s && ip link set %s netns %s && ip addr add 198.51.100.1/30 dev %s && ip link set %s up && "+
		"ip netns exec %s ip addr add 198.51.100.2/30 dev %s && ip netns exec %s ip link set %s up",
		hostIf, nsIf, nsIf, ns, hostIf, hostIf, ns, nsIf, ns, nsIf))
	port := freePort(t, "tcp")
	e.ok("run", "-d", "--name", "whoasks", "-p", fmt.Sprintf("%d:80", port), busybox, "sh", "-c",
		`mkdir -p /www/cgi-bin && printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www`)
	waitFor(t, func() bool {
		return exec.Command("busybox", "wget", "-qO-", fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/ip", port)).Run() == nil
	})
	get := func(netns, url string) string {
		t.Helper()
		cmd := exec.Command("busybox", "wget", "-qO-", url)
		if netns != "" {
			cmd = exec.Command("ip", "netns", "exec", netns, "busybox", "wget", "-qO-", url)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
		return strings.Trim(strings.TrimSpace(string(out)), "[]")
	}
	if got := get(ns, fmt.Sprintf("http://198.51.100.1:%d/cgi-bin/ip", port)); got != "::ffff:198.51.100.2" && got != "198.51.100.2" {
		t.Fatalf("the container saw a client on 198.51.100.2 as %q", got)
	}
	if got := get("", fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/ip", port)); got != "::ffff:127.0.0.1" && got != "127.0.0.1" {
		t.Fatalf("the container saw a client on the host's loopback as %q", got)
	}
	e.ok("rm", "-f", "whoasks")
	waitNoProcesses(t, e)
}
