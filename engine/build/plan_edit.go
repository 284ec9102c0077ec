package build

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/sys/signal"
)

// edit converts a metadata instruction (already expanded) into its edit.
func (p *stagePlanner) edit(cmd instructions.Command) (*ConfigEdit, error) {
	e := &ConfigEdit{Instruction: strings.ToUpper(cmd.Name())}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		e.Pairs = pairs(c.Env)
	case *instructions.LabelCommand:
		e.Pairs = pairs(c.Labels)
	case *instructions.MaintainerCommand:
		e.Value = c.Maintainer
	case *instructions.WorkdirCommand:
		e.Value = path.Join("/", p.cfg.WorkingDir, c.Path)
		if path.IsAbs(c.Path) {
			e.Value = path.Clean(c.Path)
		}
	case *instructions.UserCommand:
		e.Value = c.User
	case *instructions.ExposeCommand:
		ports, err := p.ports(c.Ports)
		if err != nil {
			return nil, err
		}
		e.Values = ports
	case *instructions.VolumeCommand:
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("VOLUME specified can not be an empty string")
			}
		}
		e.Values = c.Volumes
	case *instructions.CmdCommand:
		e.Values = p.commandLine(c.ShellDependantCmdLine)
		p.cmdSet = true
	case *instructions.EntrypointCommand:
		e.Values = p.commandLine(c.ShellDependantCmdLine)
		e.ResetCmd = !p.cmdSet
	case *instructions.ShellCommand:
		e.Values = c.Shell
	case *instructions.StopSignalCommand:
		if _, err := signal.ParseSignal(c.Signal); err != nil {
			return nil, err
		}
		e.Value = c.Signal
	case *instructions.HealthCheckCommand:
		e.Health = c.Health
	case *instructions.OnbuildCommand:
		e.Values = []string{c.Expression}
	default:
		return nil, fmt.Errorf("%s is not supported here", e.Instruction)
	}
	return e, nil
}

func pairs(kvs instructions.KeyValuePairs) []KeyValue {
	var out []KeyValue
	for _, kv := range kvs {
		out = append(out, KeyValue{kv.Key, kv.Value})
	}
	return out
}

// commandLine is CMD's or ENTRYPOINT's argv: the JSON array as it is, the
// shell form under the shell in effect.
func (p *stagePlanner) commandLine(c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	if len(c.CmdLine) == 0 {
		return nil
	}
	return append(slices.Clone(p.cfg.shell()), strings.Join(c.CmdLine, " "))
}

// ports expands EXPOSE's words the way docker does: variables, port ranges,
// a default protocol of tcp.
func (p *stagePlanner) ports(words []string) ([]string, error) {
	var out []string
	for _, w := range words {
		ws, err := p.lex.ProcessWords(w, shell.EnvsFromSlice(p.env()))
		if err != nil {
			return nil, err
		}
		for _, spec := range ws {
			ps, err := portSpec(spec)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
	}
	return out, nil
}

func portSpec(spec string) ([]string, error) {
	ports, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", ports)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid containerPort: %s", ports)
		}
	}
	var out []string
	for n := start; n <= end; n++ {
		out = append(out, fmt.Sprintf("%d/%s", n, proto))
	}
	return out, nil
}
