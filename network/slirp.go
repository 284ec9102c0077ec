package network

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ModeSlirp4netns is the fallback network where pasta is missing.
const ModeSlirp4netns = "slirp4netns"

// slirp4netns's fixed addresses.
const (
	SlirpGateway = "10.0.2.2" // the host's loopback
	SlirpDNS     = "10.0.2.3"
	SlirpAddress = "10.0.2.100"
)

// StartSlirp4netns connects the namespace to the host with slirp4netns,
// publishes ports through its API socket, and returns once the network is
// up; its pid goes to the pid file. It lives on after this command, in a
// session of its own, until StopHelper ends it.
func StartSlirp4netns(h Helper) error {
	netns, pidfile, ports := h.Netns, h.Pidfile, h.Ports
	path, err := exec.LookPath("slirp4netns")
	if err != nil {
		return fmt.Errorf("%w: slirp4netns is not installed (apt-get install slirp4netns)", ErrBadNetwork)
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer ready.Close()
	sock := apiSocket(pidfile)
	_ = os.Remove(sock)
	args := []string{"--configure", "--mtu=65520", "--netns-type=path", "--ready-fd=3", "--api-socket", sock}
	userns, err := h.openUserns()
	if err != nil {
		readyW.Close()
		return err
	}
	extra := []*os.File{readyW}
	if userns != nil {
		defer userns.Close()
		args = append(args, "--userns-path=/proc/self/fd/4")
		extra = append(extra, userns)
	}
	// Its complaints go to a file of no name (it outlives this command, so
	// a pipe would end it with SIGPIPE), read if it fails; its standard
	// output, progress and usage texts, to /dev/null.
	errlog, err := os.CreateTemp(filepath.Dir(pidfile), ".slirp4netns-*.log")
	if err != nil {
		readyW.Close()
		return fmt.Errorf("starting slirp4netns: %w", err)
	}
	_ = os.Remove(errlog.Name())
	defer errlog.Close()
	cmd := exec.Command(path, append(args, netns, "tap0")...)
	cmd.ExtraFiles = extra
	cmd.Stderr = errlog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		readyW.Close()
		return fmt.Errorf("starting slirp4netns: %w", err)
	}
	readyW.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	buf := make([]byte, 1)
	if _, err := ready.Read(buf); err != nil {
		_ = cmd.Process.Kill()
		status := <-exited
		var out []byte
		if _, serr := errlog.Seek(0, io.SeekStart); serr == nil {
			out, _ = io.ReadAll(errlog)
		}
		if msg := helperText(nil, out); msg != "" {
			return fmt.Errorf("slirp4netns did not bring the network up: %s (%v)", msg, status)
		}
		return fmt.Errorf("slirp4netns did not bring the network up: %v", status)
	}
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	for _, p := range ports {
		if err := slirpForward(sock, p); err != nil {
			StopHelper(pidfile, true)
			return err
		}
	}
	return nil
}

// slirpForward asks slirp4netns to forward a host port.
func slirpForward(sock string, p PortMapping) error {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	defer c.Close()
	host := p.HostIP
	if host == "" {
		host = "0.0.0.0"
	}
	req := map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": p.Protocol, "host_addr": host, "host_port": p.HostPort, "guest_port": p.ContainerPort}}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return err
	}
	_ = c.(*net.UnixConn).CloseWrite()
	var resp struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&resp); err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	if resp.Error != nil {
		if strings.Contains(resp.Error.Desc, "bind") || strings.Contains(resp.Error.Desc, "in use") {
			return fmt.Errorf("%w: %s %s:%d: %s", ErrPortInUse, p.Protocol, host, p.HostPort, resp.Error.Desc)
		}
		return fmt.Errorf("slirp4netns: publishing %d/%s: %s", p.ContainerPort, p.Protocol, resp.Error.Desc)
	}
	return nil
}

// apiSocket is the API socket of the slirp4netns of pidfile: a short name,
// as socket paths are limited to 107 bytes.
func apiSocket(pidfile string) string {
	base := filepath.Base(pidfile)
	if len(base) > 12 {
		base = base[:12]
	}
	return filepath.Join(filepath.Dir(pidfile), base+".sock")
}
