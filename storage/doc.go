// Package storage owns images and layers: the per-user store (go.podman.io/storage)
// and every image operation that goes through go.podman.io/image/v5 — pull, push,
// tag, remove, inspect, history, save, load and import — plus registry logins.
// It never prints: long work reports progress to a writer the caller passes.
package storage
