// Package rootless owns everything about running skiff as an unprivileged user:
// the subordinate id ranges, the XDG directories (with the private fallback used
// when there is no XDG_RUNTIME_DIR), and entering a user + mount namespace that
// maps the user to 0 and the whole subuid/subgid range above it.
package rootless
