# The two quick-start commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test test-slow lint audit bench schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[ml,test]'
	touch $(STAMP)

setup: $(STAMP)
	@scripts/system-packages.sh

demo: setup
	$(PY) -m controller.demo

test: setup
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

# Style and layers: ruff, and the import-linter contracts in pyproject.toml (lower layers never import higher ones).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Known vulnerabilities in the installed (pinned) dependencies, with pip-audit; exit 3 when its database
# cannot be reached (docs/security.md, "Auditing the dependencies").
audit: setup
	scripts/audit.sh $(PY)

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done

schemas: setup
	$(VENV)/bin/origami schema --write schemas/

clean:
	rm -rf $(VENV) .origami build *.egg-info
