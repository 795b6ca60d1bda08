# mockfarm — the two commands a newcomer needs are `make up` and `make test`.
#   make up      start the whole farm on this machine (state in .run/), print its URLs
#   make down    stop what `make up` started
#   make status  show each part of the local stack
#   make test    run the test suite (unit and integration, against real services)
#   make bench   time the render path (demo and corpus mockups) against naive psd-tools
#   make bench-api  time the farm over HTTP (ingest, single renders, 8 clients): issue 5's targets
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv system-packages up down status test bench bench-api

# The virtualenv, rebuilt when the dependencies change.
$(BIN)/mockfarm: setup.cfg pyproject.toml
	PYTHON=$(PYTHON) sh deploy/local/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,local]'
	touch $@

venv: $(BIN)/mockfarm

# redis-server and PostgreSQL from apt, when missing (as root, or through sudo).
system-packages:
	PYTHON=$(PYTHON) sh deploy/local/system-packages.sh

up: venv system-packages
	$(BIN)/mockfarm up

down:
	@if [ -x $(BIN)/mockfarm ]; then $(BIN)/mockfarm down; else echo "nothing to stop (no $(VENV))"; fi

status: venv
	$(BIN)/mockfarm status

test: venv system-packages
	$(BIN)/python -m pytest

# Figures are noisy on a shared machine: the report prints the load average.
bench: venv
	nice $(BIN)/python -m compositor.bench

# Uses the `make up` stack when it answers, else starts it (and leaves it running).
# Not niced: it times the stack, which runs at normal priority.
bench-api: venv system-packages
	$(BIN)/mockfarm bench-api
