package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const busyboxImage = registry + "/skiff/busybox:latest"

// warm pulls the busybox image into both engines' default stores.
func (b *bench) warm() error {
	for _, e := range b.engines() {
		if _, err := b.run(e, "pull", "-q", busyboxImage); err != nil {
			return err
		}
	}
	return nil
}

// runArgs is `run --rm --network none IMAGE true` for an engine: the
// container lifecycle alone, the same work for both (network setup is the
// networking benchmark's). skiff+runc is skiff made to use runc, podman's
// runtime here (skiff's default is crun).
func runArgs(e engine) []string {
	args := []string{"run", "--rm", "--network", "none"}
	if e.name == skiffRunc {
		args = append(args, "--runtime", "runc")
	}
	return append(args, busyboxImage, "true")
}

const skiffRunc = "skiff+runc"

// runLatency times `run --rm IMAGE true` for both engines, skiff also with
// runc, and a bare `runc run` of a prepared bundle.
func (b *bench) runLatency(n int) error {
	if n < 5 {
		n = 5
	}
	if err := b.warm(); err != nil {
		return err
	}
	bare, err := b.bareBundle()
	if err != nil {
		return err
	}
	skiff, podman := b.engines()[0], b.engines()[1]
	engines := []engine{skiff, {skiffRunc, skiff.argv, skiff.env}, podman}
	times := map[string][]time.Duration{}
	for _, e := range engines { // first runs set up namespaces and caches
		if _, err := b.run(e, runArgs(e)...); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		for _, e := range engines {
			b.quiesce()
			d, err := b.run(e, runArgs(e)...)
			if err != nil {
				return err
			}
			times[e.name] = append(times[e.name], d)
		}
		b.quiesce()
		d, err := b.run(bare, "--root", filepath.Join(b.root, "bare-state"), "run", "--bundle", filepath.Join(b.root, "bare"), fmt.Sprintf("bare%d", i))
		if err != nil {
			return err
		}
		times["runc"] = append(times["runc"], d)
	}
	report("run --rm busybox true, wall time", engines, times)
	ratio := func(a, b string) float64 { return median(times[a]).Seconds() / median(times[b]).Seconds() }
	fmt.Printf("  ratio skiff+runc/podman: %.2f (both with runc)\n", ratio(skiffRunc, "podman"))
	fmt.Printf("  bare runc run of a prepared bundle: median %.3fs  runs %v\n", median(times["runc"]).Seconds(), round(times["runc"]))
	fmt.Printf("  skiff/runc: %.2f, skiff+runc/runc: %.2f\n", ratio("skiff", "runc"), ratio(skiffRunc, "runc"))
	return nil
}

// bareBundle unpacks the busybox layer into a rootless runc bundle.
func (b *bench) bareBundle() (engine, error) {
	dir := filepath.Join(b.root, "bare")
	rootfs := filepath.Join(dir, "rootfs")
	layout := "/var/lib/skiff-test/images/busybox/blobs/sha256/d5a5fd0b3579bce33c053bd8800d765af0873d2b01264bbccc89f51149808ad6"
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return engine{}, err
	}
	if out, err := exec.Command("tar", "-xzf", layout, "-C", rootfs).CombinedOutput(); err != nil {
		return engine{}, fmt.Errorf("unpacking busybox: %v: %s", err, out)
	}
	spec := exec.Command("runc", "spec", "--rootless")
	spec.Dir = dir
	if out, err := spec.CombinedOutput(); err != nil {
		return engine{}, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	cfg = []byte(strings.Replace(string(cfg), `"sh"`, `"true"`, 1))
	cfg = []byte(strings.Replace(string(cfg), `"terminal": true`, `"terminal": false`, 1))
	// runc spec maps the invoking user; the benchmark user runs it.
	cfg = []byte(strings.ReplaceAll(string(cfg), `"hostID": 0`, `"hostID": `+strconv.Itoa(b.uid)))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return engine{}, err
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, b.uid, b.gid)
		}
		return err
	}); err != nil {
		return engine{}, err
	}
	return engine{name: "runc", argv: []string{"/usr/sbin/runc"}, env: b.engines()[0].env}, nil
}

// createMany times creating count containers, one command each.
func (b *bench) createMany(count int) error {
	if count == 0 {
		count = 500
	}
	if err := b.warm(); err != nil {
		return err
	}
	engines := b.engines()
	totals := map[string][]time.Duration{}
	for _, e := range engines {
		var total time.Duration
		for i := 0; i < count; i++ {
			args := []string{"create", "--network", "none", busyboxImage, "true"}
			d, err := b.run(e, args...)
			if err != nil {
				return err
			}
			total += d
		}
		totals[e.name] = []time.Duration{total}
		if _, err := b.run(e, "rm", "-a", "-f"); err != nil {
			return err
		}
	}
	report(fmt.Sprintf("create of %d containers, total wall time", count), engines, totals)
	return nil
}

// psMany times `ps -a` with count containers present.
func (b *bench) psMany(count int) error {
	if count == 0 {
		count = 1000
	}
	if err := b.warm(); err != nil {
		return err
	}
	engines := b.engines()
	times := map[string][]time.Duration{}
	for _, e := range engines {
		// Several creates at once: the setup is not what is measured.
		sem := make(chan struct{}, 4)
		errs := make(chan error, count)
		for i := 0; i < count; i++ {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				args := []string{"create", "--network", "none", busyboxImage, "true"}
				_, err := b.run(e, args...)
				errs <- err
			}()
		}
		for i := 0; i < count; i++ {
			if err := <-errs; err != nil {
				return err
			}
		}
		for i := 0; i < 7; i++ {
			d, err := b.run(e, "ps", "-a")
			if err != nil {
				return err
			}
			times[e.name] = append(times[e.name], d)
		}
		if _, err := b.run(e, "rm", "-a", "-f"); err != nil {
			return err
		}
	}
	report(fmt.Sprintf("ps -a with %d containers, wall time", count), engines, times)
	return nil
}

// memory measures the resident memory that one detached container costs
// beyond the container's own process: skiff's monitor; podman's conmon
// (and its pause process, shared by all containers, shown apart).
func (b *bench) memory() error {
	if err := b.warm(); err != nil {
		return err
	}
	// Without a network, then on each engine's default network with a
	// published port: its network helpers count too.
	for _, net := range []string{"none", "default + -p"} {
		for _, e := range b.engines() {
			args := []string{"run", "-d", "--network", "none", "--name", "memprobe", busyboxImage, "sleep", "600"}
			if net != "none" {
				port, err := freeTCPPort()
				if err != nil {
					return err
				}
				args = []string{"run", "-d", "-p", fmt.Sprintf("%d:80", port), "--name", "memprobe", busyboxImage, "sleep", "600"}
			}
			if _, err := b.run(e, args...); err != nil {
				return err
			}
			time.Sleep(500 * time.Millisecond)
			per, shared := b.userRSS()
			fmt.Printf("memory per running detached container, network %s, %s: %s (shared: %s)\n", net, e.name, per, shared)
			if _, err := b.run(e, "rm", "-f", "memprobe"); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond) // helpers that end on their own
		}
	}
	return nil
}

// userRSS sums the resident memory of the user's engine processes by name.
func (b *bench) userRSS() (perContainer, shared string) {
	entries, _ := os.ReadDir("/proc")
	var per []string
	var sh []string
	var perKB int
	for _, ent := range entries {
		pid := ent.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+pid, &st) != nil || int(st.Uid) != b.uid {
			continue
		}
		status, _ := os.ReadFile("/proc/" + pid + "/status")
		name, rss := "", 0
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Name:"); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				rss, _ = strconv.Atoi(strings.Fields(v)[0])
			}
		}
		pss, dirty := 0, 0
		if rollup, err := os.ReadFile("/proc/" + pid + "/smaps_rollup"); err == nil {
			for _, line := range strings.Split(string(rollup), "\n") {
				if v, ok := strings.CutPrefix(line, "Pss:"); ok {
					pss, _ = strconv.Atoi(strings.Fields(v)[0])
				}
				if v, ok := strings.CutPrefix(line, "Private_Dirty:"); ok {
					dirty, _ = strconv.Atoi(strings.Fields(v)[0])
				}
			}
		}
		if rss == 0 {
			continue // a zombie waiting for init
		}
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		switch {
		case name == "sleep" || strings.HasPrefix(name, "runc"):
			continue // the container itself (or a runtime process of its start)
		case name == "catatonit" || strings.Contains(string(cmdline), "pause"):
			sh = append(sh, fmt.Sprintf("%s RSS %d kB PSS %d kB", name, rss, pss))
		default:
			label := name
			if strings.HasPrefix(string(cmdline), "skiff-monitor") {
				label = "skiff-monitor"
			}
			per = append(per, fmt.Sprintf("%s RSS %d kB PSS %d kB private dirty %d kB", label, rss, pss, dirty))
			perKB += rss
		}
	}
	return fmt.Sprintf("RSS %d kB [%s]", perKB, strings.Join(per, ", ")), strings.Join(sh, ", ")
}
