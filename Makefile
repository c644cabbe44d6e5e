# bluegreen: the two first commands on a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANIFEST ?= packer/manifest.json
CONFIG ?= bluegreen.toml
# The saved plan `make plan` writes and `make release` applies (gitignored).
PLAN ?= .bluegreen-release.plan

.PHONY: demo test test-slow test-fast plan release bake bench fmt clean color-module

$(STAMP): pyproject.toml lab/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./lab -e '.[test]'
	touch $(STAMP)

# The lab's data plane is a real HAProxy (Debian package); installed here when missing.
haproxy:
	@sh scripts/ensure-haproxy.sh

## demo: the local lab end to end: emulated AWS, real Terraform, real HAProxy, live traffic
demo: $(STAMP) haproxy
	$(BIN)/bluegreen demo

## test: unit, integration, end-to-end and lab tests (under 10 minutes on 2 cores)
test: $(STAMP) haproxy
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not slow"

## test-slow: the extended real-Terraform scenarios (every test marked slow; CI runs it after
## `make test`). Plain load balancing is safe here: each worker brings up its own session lab,
## no slow test uses `mock_aws`, and the classic ELB's own lab has names of its own.
test-slow: $(STAMP) haproxy
	$(BIN)/pytest -q -n 2 --dist load -m slow

## test-fast: unit and integration tests only (no Terraform, no HAProxy)
test-fast: $(STAMP)
	$(BIN)/pytest -q tests/unit tests/integration tests/fidelity

## plan / release: what CI runs after `packer build` wrote $(MANIFEST). `make plan` prints the
## markdown plan and saves it to $(PLAN); `make release` applies exactly that plan, or refuses
## (exit 7) when the state, the tfvars or the live color moved since: plan again.
plan: $(STAMP)
	$(BIN)/bluegreen plan --config $(CONFIG) --packer-manifest $(MANIFEST) --format markdown --out $(PLAN)

release: $(STAMP)
	$(BIN)/bluegreen release --config $(CONFIG) --plan $(PLAN) --json

bake:
	cd packer && packer build web.json

## bench: side-by-side release benchmarks in the lab; writes bench/results/
bench: $(STAMP) haproxy
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.progressive

## color-module: terraform/modules/color is the source; `bluegreen init --write-module` ships a
## copy as package data. Run after editing the module (tests/unit/test_color_module.py checks).
color-module:
	cp terraform/modules/color/*.tf bluegreen/templates/color_module/

fmt:
	$(BIN)/python -m bluegreen.terraform.embedded fmt -check -recursive terraform bench

clean:
	rm -rf $(VENV) .lab
