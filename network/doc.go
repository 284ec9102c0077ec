// Package network owns rootless networking: a network namespace of the
// container's own, connected by pasta or slirp4netns, and published ports.
// User-defined networks are still to come (issue 5). The import graph test
// holds it to importing only rootless of skiff's packages.
package network
