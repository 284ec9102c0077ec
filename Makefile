# skiff build. cgo is required (user namespace constructor); the tags keep
# gpgme and btrfs headers out of the build.
GO        ?= go
TAGS      := containers_image_openpgp exclude_graphdriver_btrfs
GOFLAGS_B := -buildvcs=false -tags "$(TAGS)"
VERSION   ?= 0.1.0-dev
LDFLAGS   := -s -w -X github.com/skiff-project/skiff/engine.Version=$(VERSION)

PREFIX    ?= /usr/local
DESTDIR   ?=

.PHONY: build completions install test test-unit test-e2e bench clean

build:
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_B) -ldflags "$(LDFLAGS)" -o bin/skiff ./cmd/skiff

completions: build
	./bin/skiff completion bash > completions/skiff.bash
	./bin/skiff completion zsh > completions/_skiff
	./bin/skiff completion fish > completions/skiff.fish

# install puts skiff on PATH and links it as systemd's generators, which
# turn Quadlet files (.container, .volume, .network) into services.
install: build
	install -D -m 0755 bin/skiff $(DESTDIR)$(PREFIX)/bin/skiff
	install -d $(DESTDIR)/usr/lib/systemd/user-generators $(DESTDIR)/usr/lib/systemd/system-generators
	ln -sf $(PREFIX)/bin/skiff $(DESTDIR)/usr/lib/systemd/user-generators/skiff-user-generator
	ln -sf $(PREFIX)/bin/skiff $(DESTDIR)/usr/lib/systemd/system-generators/skiff-system-generator
	install -D -m 0644 completions/skiff.bash $(DESTDIR)/usr/share/bash-completion/completions/skiff

test-unit:
	$(GO) test $(GOFLAGS_B) ./cmd/... ./engine/... ./storage/... ./network/... ./rootless/... ./completions/...

test-e2e: build
	$(GO) test $(GOFLAGS_B) -count=1 -timeout 40m ./test/...

test: test-unit test-e2e

bench:
	bash bench/run.sh pull

clean:
	rm -rf bin
