# mockfarm — the two commands a newcomer needs are `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv test

$(BIN)/mockfarm: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,local]'
	touch $@

venv: $(BIN)/mockfarm

test: venv
	$(BIN)/python -m pytest
