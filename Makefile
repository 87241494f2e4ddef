# The two commands of the README's quick start. Both set everything up first.
.PHONY: setup demo test quick lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/graphwire demo

# `test` also installs a headless Chromium (for the HTML export's browser test); `demo` does not.
test:
	@GRAPHWIRE_BROWSER=1 bash scripts/setup.sh
	bash scripts/lint.sh
	.venv/bin/python -m pytest -q -p no:cacheprovider

# the quick loop: everything but the tests marked slow (under two minutes on two cores)
quick:
	.venv/bin/python -m pytest -q -p no:cacheprovider -m "not slow"

lint:
	bash scripts/lint.sh

bench: setup
	.venv/bin/python benchmarks/executors.py
