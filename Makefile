# Builds pogo against the python3 on PATH, or $(PYTHON) when set.
PYTHON ?= python3
PY_CFLAGS := $(shell $(PYTHON) scripts/pyconfig.py cflags)
PY_LDFLAGS := $(shell $(PYTHON) scripts/pyconfig.py ldflags)
PY_EXE := $(shell $(PYTHON) scripts/pyconfig.py exe)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

export CGO_ENABLED := 1
export CGO_CFLAGS := $(PY_CFLAGS)
export CGO_LDFLAGS := $(PY_LDFLAGS)
LINK := -X github.com/pogoserver/pogo/internal/cpython.DefaultProgram=$(PY_EXE) -X github.com/pogoserver/pogo/internal/cli.version=$(VERSION)

.PHONY: build serve setup test gotest vet staticcheck clean
build:
	go build -ldflags '$(LINK)' -o bin/pogo ./cmd/pogo

serve: setup build
	./bin/pogo --chdir examples hello:app

setup:
	./scripts/setup.sh

# The whole suite (what CI runs): see scripts/test.sh.
test: setup
	./scripts/test.sh

# go test with this Makefile's Python; extra flags in TESTFLAGS, packages in PKGS.
PKGS ?= ./...
gotest:
	go test -ldflags '$(LINK)' $(TESTFLAGS) $(PKGS)

vet:
	go vet $(PKGS)

# staticcheck, pinned; go run fetches it into the module cache, not go.mod.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
staticcheck:
	go run $(STATICCHECK) $(PKGS)

clean:
	rm -rf bin
