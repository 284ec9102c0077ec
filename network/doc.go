// Package network owns rootless networking: pasta or slirp4netns for a
// container's network namespace, published ports and user-defined networks.
// Containers run with --network none until it does (issue 5); the import
// graph test already holds it to importing only rootless.
package network
