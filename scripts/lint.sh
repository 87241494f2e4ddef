#!/usr/bin/env bash
# Lint and type-check: ruff over the repository, mypy over the public modules. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
VPY=${VPY:-.venv/bin/python}
"$VPY" -m ruff check graphwire tests benchmarks examples scripts docs/hooks
"$VPY" -m mypy graphwire/__init__.py graphwire/graph.py graphwire/contract.py graphwire/registry.py graphwire/edgeset \
    graphwire/plan.py graphwire/errors.py graphwire/generators graphwire/transforms \
    graphwire/ops/registry.py graphwire/compiler graphwire/executors graphwire/wiring graphwire/io/readers.py \
    graphwire/io/history.py graphwire/io/json_format.py
