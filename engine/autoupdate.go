package engine

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/skiff-project/skiff/engine/config"

	"github.com/skiff-project/skiff/rootless"
	"github.com/skiff-project/skiff/storage"
)

// AutoUpdateLabel marks a container for auto-update: registry (the image
// in the registry has another digest) or local (the image of that name in
// the store is another one).
const AutoUpdateLabel = "io.containers.autoupdate"

// AutoUpdateOptions are auto-update's flags.
type AutoUpdateOptions struct {
	DryRun   bool
	Registry storage.RegistryOptions
}

// AutoUpdateReport is one container's line of auto-update.
type AutoUpdateReport struct {
	Unit      string `json:"Unit"`
	Container string `json:"Container"`
	Image     string `json:"Image"`
	Policy    string `json:"Policy"`
	// Updated: pending (dry run), true, false, or failed.
	Updated string `json:"Updated"`
}

// AutoUpdate checks the containers labelled for auto-update and, unless
// DryRun, pulls their new images and restarts the systemd units that run
// them (the units recreate the containers from the new image).
func (e *Engine) AutoUpdate(ctx context.Context, o AutoUpdateOptions) ([]AutoUpdateReport, error) {
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []AutoUpdateReport
	var errs []string
	for _, rec := range recs {
		policy := rec.Config.Labels[AutoUpdateLabel]
		if policy == "" || policy == "disabled" {
			continue
		}
		if policy == "image" {
			policy = "registry" // podman's old name
		}
		r := AutoUpdateReport{Unit: rec.Config.Labels[SystemdUnitLabel], Container: fmt.Sprintf("%s (%s)", rec.ID[:12], rec.Name), Image: rec.Image, Policy: policy, Updated: "false"}
		newer, err := e.newerImage(ctx, rec, policy, o.Registry)
		switch {
		case err != nil:
			r.Updated = "failed"
			errs = append(errs, fmt.Sprintf("%s: %v", rec.Name, err))
		case !newer:
		case o.DryRun:
			r.Updated = "pending"
		default:
			if err := e.update(ctx, rec, r.Unit, policy, o.Registry); err != nil {
				r.Updated = "failed"
				errs = append(errs, fmt.Sprintf("%s: %v", rec.Name, err))
			} else {
				r.Updated = "true"
			}
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("auto-update: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// newerImage tells whether the container's image has a newer version.
func (e *Engine) newerImage(ctx context.Context, rec *config.ContainerRecord, policy string, reg storage.RegistryOptions) (bool, error) {
	switch policy {
	case "registry":
		if !storage.FullyQualified(rec.Image) {
			return false, fmt.Errorf("%w: image %q: the registry policy needs a fully qualified name", config.ErrBadOption, rec.Image)
		}
		remote, err := storage.RemoteDigest(ctx, reg, rec.Image)
		if err != nil {
			return false, err
		}
		img, err := e.store.Image(rec.ImageID)
		if err != nil {
			return true, nil // the container's image is gone: anything is newer
		}
		return !slices.Contains(img.Digests, remote) && img.Digest != remote, nil
	case "local":
		sys, err := reg.SystemContext()
		if err != nil {
			return false, err
		}
		img, err := e.store.Lookup(sys, rec.Image)
		if err != nil {
			return false, err
		}
		return img.ID != rec.ImageID, nil
	}
	return false, fmt.Errorf("%w: %s=%q: use registry or local", config.ErrBadOption, AutoUpdateLabel, policy)
}

// update pulls the new image and restarts the container's unit.
func (e *Engine) update(ctx context.Context, rec *config.ContainerRecord, unit, policy string, reg storage.RegistryOptions) error {
	if unit == "" {
		return fmt.Errorf("not run by a systemd unit (%s label): nothing to restart", SystemdUnitLabel)
	}
	if policy == "registry" {
		if _, err := e.store.Pull(ctx, storage.PullOptions{RegistryOptions: reg, Reference: rec.Image}); err != nil {
			return err
		}
	}
	args := []string{"restart", unit}
	if rootless.UID() != 0 {
		args = append([]string{"--user"}, args...)
	}
	if out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
