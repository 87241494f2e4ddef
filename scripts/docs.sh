#!/usr/bin/env bash
# Builds the documentation site (mkdocs.yml) into site/ in strict mode: a broken link, a page
# missing from the navigation, a docstring that does not render or a benchmark record a table
# cannot read fails the build. Run by `make docs` and `make test`; offline (no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
VPY=${VPY:-.venv/bin/python}
# the theme's notice about its own future releases is not a warning about these docs
export NO_MKDOCS_2_WARNING=1
"$VPY" -m mkdocs build --strict --quiet "$@"
echo "[docs] built site/ (open site/index.html)"
