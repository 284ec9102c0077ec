package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"

	"github.com/skiff-project/skiff/rootless"
)

// RegistryOptions are the flags every command that talks to a registry takes.
type RegistryOptions struct {
	AuthFile  string // --authfile; "" = the default auth.json
	CertDir   string // --cert-dir
	TLSVerify *bool  // --tls-verify; nil = registries.conf decides
	Creds     string // --creds user[:password]
	Platform  string // --platform os/arch[/variant]
	// StallTimeout ends a pull whose registry sends nothing for this
	// long; 0 is DefaultStallTimeout, negative waits forever.
	StallTimeout time.Duration
}

// stallTimeout is the effective stall timeout; 0 or less watches nothing.
func (o RegistryOptions) stallTimeout() time.Duration {
	if o.StallTimeout == 0 {
		return DefaultStallTimeout
	}
	return o.StallTimeout
}

// SystemContext turns registry options into the image library's context.
func (o RegistryOptions) SystemContext() (*types.SystemContext, error) {
	sys := &types.SystemContext{
		AuthFilePath:            o.AuthFile,
		DockerCertPath:          o.CertDir,
		DockerRegistryUserAgent: "skiff",
	}
	if sys.AuthFilePath == "" {
		sys.AuthFilePath = os.Getenv("REGISTRY_AUTH_FILE")
	}
	if o.TLSVerify != nil {
		sys.DockerInsecureSkipTLSVerify = types.NewOptionalBool(!*o.TLSVerify)
	}
	if o.Creds != "" {
		user, pass, _ := strings.Cut(o.Creds, ":")
		if user == "" {
			return nil, fmt.Errorf("%w: --creds wants USERNAME[:PASSWORD]", ErrBadReference)
		}
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: user, Password: pass}
	}
	if o.Platform != "" {
		parts := strings.Split(o.Platform, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("invalid platform %q: want OS/ARCH[/VARIANT], e.g. linux/amd64", o.Platform)
		}
		sys.OSChoice, sys.ArchitectureChoice = parts[0], parts[1]
		if len(parts) == 3 {
			sys.VariantChoice = parts[2]
		}
	}
	if rootless.IsRootless() {
		if cfg, err := rootless.ConfigHome(); err == nil {
			// Per-user registry certificates, as podman reads them.
			if d := filepath.Join(cfg, "containers", "certs.d"); dirExists(d) {
				sys.DockerPerHostCertDirPath = d
			}
		}
	}
	return sys, nil
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// policyContext reads policy.json as podman does. Where no policy file exists
// at all, images are accepted as docker accepts them.
func policyContext(sys *types.SystemContext) (*signature.PolicyContext, error) {
	policy, err := signature.DefaultPolicy(sys)
	if err != nil {
		if !anyPolicyFile() {
			policy = &signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}}
		} else {
			return nil, fmt.Errorf("reading the signature policy: %w", err)
		}
	}
	return signature.NewPolicyContext(policy)
}

func anyPolicyFile() bool {
	paths := []string{"/etc/containers/policy.json"}
	if cfg, err := rootless.ConfigHome(); err == nil {
		paths = append(paths, filepath.Join(cfg, "containers", "policy.json"))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
