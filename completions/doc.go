// Package completions holds the generated bash, zsh and fish completion
// scripts for skiff (make completions writes them) and the test that fails
// when they are stale.
package completions
