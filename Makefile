# netevents.nutanix — two commands for a newcomer: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# ansible-test and ansible-doc want the collection at ansible_collections/<ns>/<name>.
COLLECTIONS := $(CURDIR)/.collections
TREE := $(COLLECTIONS)/ansible_collections/netevents/nutanix
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
PYTEST_ARGS ?=

.PHONY: help venv tree demo test sanity lint units functional docs-check build clean

help:
	@echo "make demo   - set up .venv and run the tour against the simulators"
	@echo "make test   - everything CI runs: sanity, lint, unit and functional tests, doc and build checks"

$(BIN)/.stamp: tests/requirements.txt requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r tests/requirements.txt
	touch $@

venv: $(BIN)/.stamp

tree:
	@mkdir -p $(dir $(TREE))
	@ln -sfn $(CURDIR) $(TREE)

demo: venv tree
	$(BIN)/python demo/tour.py

test: venv tree sanity lint units functional docs-check build

sanity: venv tree
	$(BIN)/python tests/tools/get_pip_standin.py --install
	cd $(TREE) && ansible-test sanity --python 3.11 --local --color no

lint: venv tree
	cd $(TREE) && ansible-lint --offline

units: venv tree
	cd $(TREE) && $(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

functional: venv tree
	cd $(TREE) && $(BIN)/python -m pytest tests/functional $(PYTEST_ARGS)

docs-check: venv tree
	cd $(TREE) && antsibull-docs lint-collection-docs --plugin-docs .
	cd $(TREE) && antsibull-changelog lint

build: venv tree
	bash tests/tools/build_and_install.sh

clean:
	rm -rf $(COLLECTIONS) tests/output .pytest_cache *.tar.gz
