# The two commands of the README's quick start. Both set everything up first.
.PHONY: setup demo test bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/graphwire demo

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider

bench: setup
	.venv/bin/python benchmarks/executors.py
