#!/usr/bin/env bash
# GPU check: the gpu-marked tests, then the executor (with torch.compile, and on CUDA its
# mode="reduce-overhead" CUDA graphs), DNW, DDW and scale benchmarks on one device, each writing
# its JSON (named after the machine and device) to the results folder. Sized to finish in under
# 10 minutes on one CUDA GPU. With --device cpu it runs end to end in a CI-sized form (smoke: the
# benchmarks' --quick sizes, one thread), so the script itself stays tested here.
#
#   scripts/gpu-check.sh [--device cuda|cpu] [--quick] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
QUICK=0
OUT=benchmarks/results
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --out) OUT="$2"; shift 2 ;;
        *) echo "gpu-check: unknown argument $1 (expected --device cuda|cpu, --quick, --out DIR)" >&2; exit 2 ;;
    esac
done
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
if [ "$DEVICE" = cpu ]; then QUICK=1; fi  # no GPU: the CI-sized form
step() { echo "[gpu-check] $*"; local t=$SECONDS; "$@"; echo "[gpu-check] done in $((SECONDS - t)) s"; }

if [ "$DEVICE" = cuda ]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-check: no CUDA device (use --device cpu)')"
    step "$PY" -m pytest -q -p no:cacheprovider -m gpu tests
fi
if [ "$QUICK" = 1 ]; then
    step "$PY" benchmarks/executors.py --device "$DEVICE" --quick --repeats 2 --threads 1 --out "$OUT"
    step "$PY" benchmarks/dnw.py --device "$DEVICE" --quick --repeats 2 --batch 8 --out "$OUT"
    step "$PY" benchmarks/ddw.py --device "$DEVICE" --quick --repeats 2 --out "$OUT"
    step "$PY" benchmarks/scale.py --device "$DEVICE" --quick --sizes 200 --families er --repeats 1 --out "$OUT" \
        --plot "$OUT/scale-gpu-check.png"
else
    step "$PY" benchmarks/executors.py --device "$DEVICE" --repeats 5 --torch-compile on --out "$OUT"
    step "$PY" benchmarks/dnw.py --device "$DEVICE" --repeats 5 --out "$OUT"
    step "$PY" benchmarks/ddw.py --device "$DEVICE" --repeats 5 --out "$OUT"
    step "$PY" benchmarks/scale.py --device "$DEVICE" --sizes 1000 10000 30000 --ref-limit 20 --out "$OUT"
fi
echo "[gpu-check] results in $OUT:"
ls "$OUT"/*.json
