# netevents.nutanix — two commands for a newcomer: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# The official Nutanix v4 SDKs pin urllib3 1.26: a venv of their own, for the test that proves the simulator's shapes.
SDK_VENV := $(CURDIR)/.venv-sdk
export NETEVENTS_SDK_PYTHON := $(SDK_VENV)/bin/python
# ansible-test and ansible-doc want the collection at ansible_collections/<ns>/<name>.
COLLECTIONS := $(CURDIR)/.collections
TREE := $(COLLECTIONS)/ansible_collections/netevents/nutanix
# ansible-test resolves the working directory physically, so it gets a real copy of the files git knows
# (one for sanity, one for integration, so that both can run at once).
SANITY_TREE := $(CURDIR)/.sanity/ansible_collections/netevents/nutanix
INTEGRATION_TREE := $(CURDIR)/.integration/ansible_collections/netevents/nutanix
define copy_tree
	rm -rf $(1) && mkdir -p $(1)
	git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C $(1)
	cd $(1) && git init -q && git add -A
endef
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
PYTEST_ARGS ?=

.PHONY: help venv sdk-venv tree preflight demo test bench sanity lint units functional integration docs-check build clean

help:
	@echo "make demo   - set up .venv and run the tour against the simulators"
	@echo "make test   - everything CI runs: sanity, lint, unit, functional and integration tests, doc and build checks"
	@echo "make bench  - measure ingest, latency, firewall cost, reconcile scale, poll cycle; rewrites docs/performance.md"

$(BIN)/.stamp: tests/requirements.txt requirements.txt bench/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r tests/requirements.txt -r bench/requirements.txt
	touch $@

venv: $(BIN)/.stamp

$(SDK_VENV)/.stamp: tests/requirements-sdk.txt tests/requirements-sdk-v4.0.txt
	rm -rf $(SDK_VENV)
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q -r tests/requirements-sdk.txt
	$(SDK_VENV)/bin/pip install -q --no-deps --target $(SDK_VENV)/sdk-v4.0 -r tests/requirements-sdk-v4.0.txt
	touch $@

sdk-venv: $(SDK_VENV)/.stamp

tree:
	@mkdir -p $(dir $(TREE))
	@ln -sfn $(CURDIR) $(TREE)

demo: venv tree
	$(BIN)/python demo/tour.py

test: venv tree preflight sanity lint units functional integration docs-check build

# The programs outside the venv that some checks need (tests/tools/preflight.py says which and why): a warning
# for each missing one, or with CI=true a failure, so that nothing is skipped quietly in CI.
preflight:
	@$(PYTHON) tests/tools/preflight.py

# Not part of `make test` (a --quick smoke run of it is, in tests/unit/bench).
bench: venv tree
	$(BIN)/python bench/run.py

sanity: venv
	@$(PYTHON) tests/tools/preflight.py sanity
	$(BIN)/python tests/tools/get_pip_standin.py --install
	$(call copy_tree,$(SANITY_TREE))
	cd $(SANITY_TREE) && ansible-test sanity --python 3.11 --local --color no $(SANITY_ARGS)

lint: venv tree
	cd $(TREE) && ansible-lint --offline

units: venv tree sdk-venv
	cd $(TREE) && $(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

functional: venv tree
	@$(PYTHON) tests/tools/preflight.py functional
	cd $(TREE) && $(BIN)/python -m pytest tests/functional $(PYTEST_ARGS)

# One ansible-test target per module (tests/integration/targets), against the simulators its setup_* targets
# start; INTEGRATION_ARGS=panos_tag runs one.
integration: venv
	$(call copy_tree,$(INTEGRATION_TREE))
	cd $(INTEGRATION_TREE) && ansible-test integration --python 3.11 --local --color no $(INTEGRATION_ARGS)

docs-check: venv tree
	cd $(TREE) && antsibull-docs lint-collection-docs --plugin-docs .
	cd $(TREE) && antsibull-changelog lint

build: venv tree
	bash tests/tools/build_and_install.sh

clean:
	rm -rf $(COLLECTIONS) .sanity .integration tests/output .pytest_cache *.tar.gz
