#!/usr/bin/env bash
# Run the GPU tests and the GPU benchmark on the device machine (bench/GPU.md has the whole procedure).
#
#   bash bench/gpu_device_run.sh check   # what is installed: Python packages, CuPy, NVML, the GPU
#   bash bench/gpu_device_run.sh tests   # tests/gpu: golden kernels and whole conversions on CuPy
#   bash bench/gpu_device_run.sh bench   # builds llama-quantize from a carried tarball, then python -m bench.gpu
#   bash bench/gpu_device_run.sh profile # python -m bench.gpu_profile: where the GPU path's time goes
#   bash bench/gpu_device_run.sh timeline # python -m bench.gpu_timeline: when each step of a conversion runs
#   bash bench/gpu_device_run.sh all     # tests, then bench
#
# Inputs, all optional, carried into the repository root by the device tool:
#   .whl/*.whl                  Python wheels the image lacks (gguf, nvidia-ml-py, pytest, hypothesis, ...)
#   vendor/llama-src.tar.gz     llama.cpp's source for bench/llama_build.sh (LLAMA_TARBALL overrides the path);
#                               without it, no llama column
# Environment: BENCH_ARGS (extra arguments for bench.gpu, e.g. "--with-7b"), PYTHON (default python3),
# QP_NO_PYPI=1 (do not try to install CuPy from PyPI when it is missing).
# Everything it writes for the caller lands in $OUT: env.txt, gpu-tests.log, llama-build.log, gpu-bench.md/.log.
set -euo pipefail
mode=${1:-all}
OUT=${OUT:-$(mktemp -d)}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 CUPY_CACHE_DIR=/tmp/cupy-cache
# An installed app has its bytecode compiled. The image forbids writing bytecode (PYTHONDONTWRITEBYTECODE=1)
# and part of its site-packages ship none, which added about 0.6-0.9 s of compiling to every timed process; keep
# the bytecode in /tmp instead, so a benchmark's warm-up run leaves it for the timed runs.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=/tmp/qp-pycache
say() { echo "== $*" >&2; }

install_wheels() {
    if compgen -G ".whl/*.whl" >/dev/null; then
        say "installing carried wheels: $(cd .whl && echo *.whl)"
        "$PY" -m pip install -q --no-index --no-deps --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
}

ensure_cupy() {
    "$PY" -c "import cupy" 2>/dev/null && return 0
    say "CuPy is missing"
    [[ -n ${QP_NO_PYPI:-} ]] && return 0
    # The device machine has no network, so this fails quickly there; a CuPy wheel (over 100 MB) is too big
    # to carry, so without the image's own CuPy no GPU figure can be taken.
    if "$PY" -m pip install -q --retries 0 --timeout 10 --target /tmp/site cupy-cuda12x; then
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    else
        say "CuPy could not be installed: GPU tests will skip and the benchmark cannot run"
    fi
}

report_env() {
    {
        nvidia-smi --query-gpu=index,name,memory.total,memory.free,driver_version --format=csv || true
        "$PY" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("numpy", "cupy", "gguf", "pynvml", "psutil", "yaml", "tqdm", "requests", "tokenizers", "pytest",
             "hypothesis"):
    try:
        mod = importlib.import_module(name)
        print(f"{name:11s} {getattr(mod, '__version__', 'ok')}")
    except Exception as e:  # noqa: BLE001
        print(f"{name:11s} MISSING ({type(e).__name__}: {e})")
try:
    import cupy
    print("CUDA devices:", cupy.cuda.runtime.getDeviceCount(), "runtime", cupy.cuda.runtime.runtimeGetVersion())
except Exception as e:  # noqa: BLE001
    print("CuPy/CUDA not usable:", type(e).__name__, e)
from engine.quant.device import choose_device
c = choose_device("auto")
print("choose_device('auto'):", c.describe(), "|", c.reason, "| batch", c.batch_values)
EOF
    } 2>&1 | tee "$OUT/env.txt"
}

build_llama() {
    # A CPU-only llama-quantize, as the issue's reference figures were taken; bench/llama_build.sh reuses a
    # build an earlier call on this machine started (in the background, say) and waits for it to finish.
    local bin
    if ! bin=$(bash bench/llama_build.sh cpu llama-quantize 2>"$OUT/llama-build.log"); then
        tail -30 "$OUT/llama-build.log" >&2
        say "llama-quantize could not be built: the benchmark runs without it"
        return 0
    fi
    export LLAMA_QUANTIZE=$bin/llama-quantize
    say "using $LLAMA_QUANTIZE"
}

run_tests() {
    # addopts="" drops --strict-config, which would refuse pytest-qt's qt_api key (no Qt on that machine).
    "$PY" -m pytest -o addopts="" -p no:cacheprovider -q -rs tests/gpu 2>&1 | tee "$OUT/gpu-tests.log"
}

run_bench() {
    build_llama
    # shellcheck disable=SC2086 - BENCH_ARGS is a list of words on purpose
    "$PY" -m bench.gpu --out "$OUT/gpu-bench.md" --work /tmp/qp-bench ${LLAMA_QUANTIZE:+--llama-quantize "$LLAMA_QUANTIZE"} \
        ${BENCH_ARGS:-} 2>&1 | tee "$OUT/gpu-bench.log"
}

[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0  # sourced (to test a function): define, do not run
mkdir -p /tmp/qp-bench "$OUT"
install_wheels
ensure_cupy
report_env
case $mode in
    check) ;;
    tests) run_tests ;;
    bench) run_bench ;;
    profile) "$PY" -m bench.gpu_profile --work /tmp/qp-bench --out "$OUT/gpu-profile.md" 2>&1 | tail -5 ;;
    timeline) "$PY" -m bench.gpu_timeline --work /tmp/qp-bench --out "$OUT/gpu-timeline.md" ${BENCH_ARGS:-} ;;
    all) run_tests || failed=1; run_bench; exit "${failed:-0}" ;;
    *) echo "usage: $0 check|tests|bench|profile|timeline|all" >&2; exit 2 ;;
esac
