#!/usr/bin/env bash
# The whole test suite from a fresh clone on a fresh machine: virtual environment, locked
# dependencies (CPU torch 2.13.0), headless Chromium for the report test, lint, format, type
# check (mypy on src/, configured in pyproject.toml), tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
