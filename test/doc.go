// Package test holds skiff's end-to-end tests: they build the binary and
// drive it as an unprivileged user against the local registries that
// setup.sh starts on 127.0.0.1, with the offline busybox-static images.
package test
