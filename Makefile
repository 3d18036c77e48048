# The two quick-start commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONUNBUFFERED := 1
# Packages mypy checks in `make lint` (strict: see [tool.mypy] in pyproject.toml). The rest is typed
# as it is touched and joins this list once `mypy -p PACKAGE` passes.
TYPED := specs controller.planning controller.reconciler

.PHONY: setup demo demo-kws test test-slow lint audit bench schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[ml,test]'
	touch $(STAMP)

setup: $(STAMP)
	@scripts/system-packages.sh

demo: setup
	$(PY) -m controller.demo

demo-kws: setup
	$(PY) -m controller.demo_kws

test: setup
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

# Style, layers and types: ruff, the import-linter contracts in pyproject.toml (lower layers never import
# higher ones), and mypy on the typed packages.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy --follow-imports=silent $(addprefix -p ,$(TYPED))

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
