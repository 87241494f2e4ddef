#!/usr/bin/env bash
# Sets up graphwire in a local virtual environment (.venv). Safe to run twice.
# - creates .venv with python3 (override with PYTHON=...)
# - installs PyTorch's CPU build (torch==2.13.0) when the venv has no torch and no NVIDIA GPU is
#   present, so CPU machines never pull several GB of CUDA packages; with a GPU, pip's default build
# - installs graphwire (editable) with the extras named in GRAPHWIRE_EXTRAS (default: data,test,docs;
#   docs is the documentation site's toolchain, which `make test` builds)
# - installs Debian's graphviz (the `dot` binary) when it is missing and we are root with apt-get
# - with GRAPHWIRE_BROWSER=1 (set by `make test`), also Debian's chromium and chromium-driver for the
#   headless-browser test of the HTML export, and a PostgreSQL server for the search storage test
#   (each test is skipped with a reason when its part is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${GRAPHWIRE_EXTRAS:-data,test,docs}
TORCH_CPU_PIN=${GRAPHWIRE_TORCH_PIN:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PY --version 2>&1)"
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1

if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
        echo "[setup] NVIDIA GPU found: installing PyTorch with CUDA"
        "$VPY" -m pip install -q "torch>=2.3"
    else
        echo "[setup] no GPU: installing the CPU build $TORCH_CPU_PIN"
        "$VPY" -m pip install -q "$TORCH_CPU_PIN"
    fi
fi

stamp=.venv/.graphwire-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp")" != "$EXTRAS" ]; then
    echo "[setup] installing graphwire[$EXTRAS]"
    "$VPY" -m pip install -q -e ".[$EXTRAS]"
    echo "$EXTRAS" > "$stamp"
fi

# ---- system packages: installed when missing and we are root with apt-get, else a warning --------
apt_updated=0
apt_install() {  # apt_install "<what it is for>" "<how to install it by hand>" package...
    local why=$1 hint=$2
    shift 2
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "[setup] installing Debian's $* ($why)"
        if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "[setup] warning: $* not found; $why will not work until you install it ($hint)" >&2
    fi
}

command -v dot >/dev/null 2>&1 || apt_install "drawing with Graphviz's dot" \
    "sudo apt-get install graphviz; macOS: brew install graphviz; conda install -c conda-forge graphviz" \
    graphviz fonts-liberation
# With GRAPHWIRE_BROWSER=1 (`make test`): a headless Chromium for the browser test of the HTML export.
if [ "${GRAPHWIRE_BROWSER:-0}" = 1 ] && ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
    apt_install "the headless-browser test of the HTML export" "sudo apt-get install chromium chromium-driver" \
        chromium chromium-driver fonts-liberation
fi
# With GRAPHWIRE_BROWSER=1 (`make test`) or GRAPHWIRE_POSTGRES=1: a PostgreSQL server, for the test that
# runs a search against a real server on 127.0.0.1 (it starts its own throw-away cluster with initdb).
if [ "${GRAPHWIRE_POSTGRES:-${GRAPHWIRE_BROWSER:-0}}" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
        && ! command -v initdb >/dev/null 2>&1; then
    apt_install "the PostgreSQL search storage test" "sudo apt-get install postgresql" postgresql
fi
echo "[setup] ready: $("$VPY" -c 'import torch, networkx; print("torch", torch.__version__, "| networkx", networkx.__version__)')"
