#!/bin/sh
# `make audit`: the packages installed in the venv (the pinned dependencies) against the database of
# known vulnerabilities, with pip-audit (in the `test` extra). Exit codes: 0 nothing known, 1
# vulnerabilities found (listed), 2 pip-audit missing, 3 the database cannot be reached (nothing
# was audited: a partial audit must not pass for a clean one, hence --strict).
set -u
PY=${1:-.venv/bin/python}
[ $# -gt 0 ] && shift  # the rest goes to pip-audit (e.g. -s osv, --format json)
if ! "$PY" -m pip_audit --version >/dev/null 2>&1; then
  echo "make audit: pip-audit is not installed in $PY's environment; install it with" \
       "'$PY -m pip install pip-audit' (make setup does: it is in the test extra)" >&2
  exit 2
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$PY" -m pip_audit --local --skip-editable --strict --progress-spinner off "$@" >"$out" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && grep -qE "could not be audited|ConnectionError|Failed to resolve|Max retries exceeded|timed out" "$out"; then
  echo "make audit: the vulnerability database (PyPI's JSON API, or OSV with -s osv) cannot be reached" \
       "from this machine, so nothing was audited; run 'make audit' where it can be reached" >&2
  exit 3
fi
cat "$out"
exit "$rc"
