// Package engine owns the lifecycle of images and containers as one user
// sees them: it opens the store for that user and answers every verb the
// command line offers with values and per-item reports. It never prints and
// never exits.
package engine
