# imdsfleet build, test and demo targets. Plain go commands; nothing hidden.
GO        ?= go
BIN       := bin/imdsfleet
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := 2025.1.1

.PHONY: all build test test-short lint tidy-check demo bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imdsfleet

# The whole suite: unit, end-to-end against the simulated AWS, the AWS CLI
# agreement tests and the moto tests (these two skip, saying so, when the
# tools are absent).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 9m ./...

test-short:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

tidy-check:
	cp go.mod /tmp/imdsfleet.go.mod; cp go.sum /tmp/imdsfleet.go.sum
	$(GO) mod tidy
	@if ! git diff --quiet -- go.mod go.sum; then cp /tmp/imdsfleet.go.mod go.mod; cp /tmp/imdsfleet.go.sum go.sum; echo "go mod tidy changes go.mod/go.sum: run it and commit"; exit 1; fi

clean:
	rm -rf bin demo-out
