// Package clients holds the end-to-end tests that drive skiff through Go
// clients nobody on the team wrote: testcontainers-go and the moby client.
// It is a module of its own (test/clients/go.mod) so that their large
// dependency trees stay out of skiff's go.mod; test/run.sh runs its tests
// after the e2e suite's clients are built (test/clients.sh).
package clients
