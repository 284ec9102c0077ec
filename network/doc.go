// Package network owns rootless networking: a network namespace of the
// container's own, connected by pasta or slirp4netns, published ports, and
// user-defined networks (netavark bridges in a hub namespace of the
// user's, with aardvark-dns for names). The import graph test holds it to
// importing only rootless of skiff's packages.
package network
