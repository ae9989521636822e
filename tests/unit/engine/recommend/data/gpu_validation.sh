#!/usr/bin/env bash
# The CUDA half of the memory-model validation, run from the repository root on the device machine:
#
#   bash tests/unit/engine/recommend/data/gpu_validation.sh
#
# Needs vendor/llama-src.tar.gz (bench/GPU.md says how to make it) and the gguf wheel in .whl (carried). It builds
# llama-fit-params, llama-bench and fitbytes with CUDA (bench/llama_build.sh), writes full-size header-only
# models (make_gpu_models.py), and records into $OUT/gpu-validation.txt:
#   HW    our own `quantpick hardware --json` on that machine
#   FREE  NVML's free memory (MiB) just before the runs
#   RUN   name | environment | arguments | fitbytes' per-device bytes (device model context compute; ...)
#   FIT   name | margin MiB | arguments | llama-fit-params' fitted arguments, and the free memory it saw
#   BENCH llama-bench's JSON lines
# parse_gpu_validation.py turns that file into llama_cpp_cuda_runs.json.
set -uo pipefail
D=tests/unit/engine/recommend/data
W=${QP_WORK:-/tmp/qp-gpuval}
OUT=${OUT:-$W/out}
mkdir -p "$W" "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
fi
bin=$(bash bench/llama_build.sh cuda llama-fit-params llama-bench fitbytes) || { echo "build failed" >&2; exit 3; }
python3 "$D/make_gpu_models.py" "$W/models" || exit 4
M=$W/models
exec > >(tee "$OUT/gpu-validation.txt") 2>&1

echo "HW $(python3 -m engine.cli hardware --json | tr -d '\n')"
free_mib=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -1)
echo "FREE $free_mib $(nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader)"

SERVER="QP_KV_UNIFIED=1 QP_N_OUTPUTS_MAX=4"
run() {  # name env args...
    local name=$1 env=$2
    shift 2
    echo "RUN $name | $env | $* | $(env $env "$bin/fitbytes" -m "$M/$name.gguf" "$@" 2>"$W/err.txt" | tr '\n' ';')"
    grep -i -E "error|failed" "$W/err.txt" | head -3
}
for fa in on off; do
    run smol X=1 -c 4096 -ngl 99 -fa $fa
    run l8b X=1 -c 8192 -ngl 99 -fa $fa
    run moe X=1 -c 8192 -ngl 99 -fa $fa
done
run smol X=1 -c 8192 -ngl 10 -fa on
run smol X=1 -c 4096 -ngl 0 -fa on
run smol "$SERVER" -c 16384 -ngl 99 -fa on -np 4
run l8b X=1 -c 16384 -ngl 99 -fa on -ctk q8_0 -ctv q8_0
run l8b X=1 -c 16384 -ngl 99 -fa off -ctk q8_0
run l8b X=1 -c 12000 -ngl 99 -fa on -ub 1024
run l8b "$SERVER" -c 32768 -ngl 99 -fa on -np 4
run l8b X=1 -c 8192 -ngl 20 -fa on
run l8b X=1 -c 8192 -ngl 32 -fa on
run l8b X=1 -c 8192 -ngl 0 -fa on
run l8b X=1 -c 8192 -ngl 0 -fa on -nkvo
run l8b "$SERVER" -c 8192 -ngl 20 -fa on -np 4
run moe X=1 -c 8192 -ngl 99 -fa on --n-cpu-moe 20
run moe X=1 -c 8192 -ngl 30 -fa on
run moe "$SERVER" -c 32768 -ngl 99 -fa on -np 4 -ctk q8_0 -ctv q8_0

fit() {  # name budget_mib args...: simulate a card with budget_mib free by leaving the rest as the margin
    local name=$1 budget=$2
    shift 2
    local margin=$((free_mib - budget))
    local got
    got=$("$bin/llama-fit-params" -m "$M/$name.gguf" -fitt "$margin" -lv 4 "$@" 2>"$W/fit.txt" | head -1)
    echo "FIT $name | $margin | $* | $got"
    { echo "=== $name $margin $*"; cat "$W/fit.txt"; } >>"$OUT/fit-log.txt"
    grep -E "free vs. target|projected to use|context size|successfully|failed" "$W/fit.txt" | head -8 | sed 's/^/    /'
}
for budget in 3072 4096 6144; do
    fit l8b $budget -c 8192 -fa on
done
fit l8b 4096 -c 32768 -fa on -fitc 4096
for budget in 6144 12288; do
    fit moe $budget -c 8192 -fa on
done
fit smol 1024 -c 32768 -fa on -fitc 4096

for m in smol l8b moe; do
    "$bin/llama-bench" -m "$M/$m.gguf" -ngl 99 -fa 1 -p 512 -n 128 -r 3 -o jsonl 2>/dev/null | sed 's/^/BENCH /'
done
"$bin/llama-bench" -m "$M/l8b.gguf" -ngl 16 -fa 1 -p 0 -n 64 -r 2 -o jsonl 2>/dev/null | sed 's/^/BENCH /'
nvidia-smi --query-gpu=memory.free,memory.used --format=csv,noheader
echo DONE
