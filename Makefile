# The two commands of the README's quick start. Both set everything up first.
.PHONY: setup demo test quick lint bench docs

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/graphwire demo

# `test` also installs a headless Chromium (for the HTML export's browser test); `demo` does not.
test:
	@GRAPHWIRE_BROWSER=1 bash scripts/setup.sh
	bash scripts/lint.sh
	bash scripts/docs.sh
	.venv/bin/python -m pytest -q -p no:cacheprovider

# the quick loop: everything but the tests marked slow (under two minutes on two cores)
quick:
	.venv/bin/python -m pytest -q -p no:cacheprovider -m "not slow"

lint:
	bash scripts/lint.sh

# the documentation site, into site/ (open site/index.html); strict: any warning fails the build
docs: setup
	bash scripts/docs.sh

bench: setup
	.venv/bin/python benchmarks/executors.py
