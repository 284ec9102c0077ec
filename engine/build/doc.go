// Package build turns a Containerfile into an image the way buildkit's
// dockerfile2llb and solver do, at skiff's scale: the Containerfile is parsed
// with buildkit's own parser (frontend/dockerfile/parser and instructions),
// converted into a plain graph of stages and steps ([Plan]: values you can
// print and compare), and run by a scheduler ([Build]) that starts each stage
// when the stages it needs are done, runs independent stages at the same time,
// and looks every step up in a content-keyed cache ([CacheKey], [Index]) before
// doing the work through an [Executor] that the engine provides.
//
// It owns: argument and environment expansion (docker's ARG scoping), the
// stage graph (dependencies, target pruning, cycle detection), reading a build
// context with .containerignore/.dockerignore rules ([Context]), the content
// digests of what a step reads, the cache key and its on-disk index, and
// podman-like progress output. It does not touch storage or run processes:
// the [Executor] does, so this package never imports the engine.
package build
