#!/usr/bin/env bash
# The GPU session's benchmarks in one call, each step under its own time limit so that one failure still
# leaves the others' numbers: mixed-precision parity on real cells (precision.py), packing modes
# (packing.py: separate processes vs sequential in one process vs lockstep, at 1 and 10 shots) and
# per-architecture throughput for pricing (throughput.py). Everything is offline.
#
#   bash benchmarks/gpu_suite.sh OUT [TREE] [WEIGHTS]
#
# OUT receives every script's JSON/markdown and a log per step; TREE is the checkout whose code runs
# (default: this one); WEIGHTS holds torchvision's mobilenet_v2-b0353104.pth (default TREE/.gpu_assets/weights).
# Wheels in .whl/ (jsonschema, open_clip and their pure-Python deps) are installed first when present,
# for machines whose Python lacks them.
set -uo pipefail
OUT=${1:?usage: gpu_suite.sh OUT [TREE] [WEIGHTS]}
TREE=$(cd "${2:-.}" && pwd)
WEIGHTS=${3:-$PWD/.gpu_assets/weights}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --target /tmp/vpbench-site .whl/*.whl >"$OUT/pip.log" 2>&1
    export PYTHONPATH=/tmp/vpbench-site
fi
export PYTHONPATH=$TREE/src${PYTHONPATH:+:$PYTHONPATH}
export VPBENCH_PROGRESS=0
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; $PY -c \
  "import torch,torchvision,timm;print('torch',torch.__version__,'cuda',torch.version.cuda,'torchvision',torchvision.__version__,'timm',timm.__version__)"; \
  nproc; } >"$OUT/machine.txt" 2>&1

step() {  # step NAME LIMIT_S COMMAND...: run, time, keep the log and the exit status
    local name=$1 limit=$2; shift 2
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "$name rc=$? ${limit}s-limit took=$((SECONDS - start))s" | tee -a "$OUT/steps.txt"
}

cd "$TREE"
step precision 130 $PY benchmarks/precision.py --device cuda --weights-dir "$WEIGHTS" --out "$OUT/precision.json"
# K=8 separate processes cost ~25 s each on the H100 machine (interpreter, imports, CUDA context): measure
# them at K=2 and the in-process modes at K=8, so the whole call fits one 10-minute device command
step packing8 170 $PY benchmarks/packing.py --device cuda --weights-dir "$WEIGHTS" --out "$OUT/packing8" --modes sequential lockstep
step separate2 120 $PY benchmarks/packing.py --device cuda --weights-dir "$WEIGHTS" --out "$OUT/separate2" --cells 2 --shots 1 --modes separate sequential
step throughput 130 $PY benchmarks/throughput.py --device cuda --out "$OUT/throughput" --label "GPU session"
tail -n 5 "$OUT"/*.log
