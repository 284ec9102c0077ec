package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// cacheKeyVersion changes whenever what a key covers changes, so that keys
// of an older skiff never match.
const cacheKeyVersion = "skiff-build-cache-v1"

// CacheKey is the key a step's result is cached under:
//
//	sha256(version, parentKey, step.Expanded, step.BuildArgs..., inputsDigest)
//
// parentKey is the key of the step before it in its stage (for the first
// step, the key of the stage's FROM, [FromKey]), so a key covers every step
// before it, and through FROM the base image and its configuration: an
// ENV, WORKDIR, USER or SHELL reaches every later step's key this way.
// step.Expanded is the instruction after argument expansion in canonical
// form: its flags, mounts (cache ids, secret ids, bind sources, never a
// secret's content), heredoc bodies, the argv a shell-form RUN became, and
// destinations made absolute. step.BuildArgs are, for a RUN, the build
// arguments in scope.
// inputsDigest is the digest of what the step reads besides its text: the
// content of COPY/ADD sources and of bind-mounted context paths ([Context.Digest]),
// the image IDs of stages and images it copies or mounts from, the
// content (or --checksum) of ADD URLs; "" when it reads nothing.
//
// Not in the key, so changing them still hits: build arguments a step
// cannot see (undeclared, or declared but not used by a later RUN or
// expansion), proxy arguments not declared by ARG, files the ignore rules
// leave out, secret contents, timestamps, and the Containerfile's line
// numbers, comments and whitespace outside instructions.
func CacheKey(parentKey string, step Step, inputsDigest string) string {
	h := sha256.New()
	writeField(h, "version", cacheKeyVersion)
	writeField(h, "parent", parentKey)
	writeField(h, "step", step.Expanded)
	for _, a := range step.BuildArgs {
		writeField(h, "arg", a)
	}
	writeField(h, "inputs", inputsDigest)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// FromKey is the key a stage's steps chain from: the FROM line (its base
// and platform) and the ID of the image it resolved to ("" for scratch).
func FromKey(base Base, imageID string) string {
	b := base
	b.ImageID = ""
	text, _ := json.Marshal(b)
	return CacheKey("", Step{Instruction: "FROM", Expanded: "FROM " + string(text)}, imageID)
}
