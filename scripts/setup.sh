#!/usr/bin/env bash
# Sets up graphwire in a local virtual environment (.venv). Safe to run twice.
# - creates .venv with python3 (override with PYTHON=...)
# - installs PyTorch's CPU build (torch==2.13.0) when the venv has no torch and no NVIDIA GPU is
#   present, so CPU machines never pull several GB of CUDA packages; with a GPU, pip's default build
# - installs graphwire (editable) with the extras named in GRAPHWIRE_EXTRAS (default: data,test,docs;
#   docs is the documentation site's toolchain, which `make test` builds)
# - installs Debian's graphviz (the `dot` binary) when it is missing and we are root with apt-get
# - with GRAPHWIRE_BROWSER=1 (set by `make test`), also Debian's chromium and chromium-driver for the
#   headless-browser test of the HTML export (skipped with a reason when they are missing)
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

if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "[setup] installing Debian's graphviz (the 'dot' binary)"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
    else
        echo "[setup] warning: Graphviz 'dot' not found; rendering will fail until you install it" >&2
        echo "        (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz;" >&2
        echo "         conda: conda install -c conda-forge graphviz)" >&2
    fi
fi
if [ "${GRAPHWIRE_BROWSER:-0}" = 1 ]; then
    if ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "[setup] installing Debian's chromium and chromium-driver (headless browser test)"
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends chromium chromium-driver fonts-liberation >/dev/null
        else
            echo "[setup] warning: chromium/chromedriver not found; the browser test of the HTML export" >&2
            echo "        will be skipped (Debian/Ubuntu: sudo apt-get install chromium chromium-driver)" >&2
        fi
    fi
fi
echo "[setup] ready: $("$VPY" -c 'import torch, networkx; print("torch", torch.__version__, "| networkx", networkx.__version__)')"

# ---- PostgreSQL (search storage tests) -----------------------------------------------------------
# With GRAPHWIRE_BROWSER=1 (`make test`) or GRAPHWIRE_POSTGRES=1: Debian's postgresql server, for the
# test that runs a search against a real server on 127.0.0.1 (it starts its own throw-away cluster
# with initdb as the 'postgres' user; skipped with the reason when the server is missing).
if [ "${GRAPHWIRE_POSTGRES:-${GRAPHWIRE_BROWSER:-0}}" = 1 ]; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "[setup] installing Debian's postgresql (search storage test)"
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends postgresql >/dev/null
        else
            echo "[setup] warning: PostgreSQL server not found; the PostgreSQL search test will be skipped" >&2
            echo "        (Debian/Ubuntu: sudo apt-get install postgresql)" >&2
        fi
    fi
fi
