"""Turn gpu_validation.sh's raw output into llama_cpp_cuda_h100_runs.json (deterministic, small).

Usage: python tests/unit/engine/recommend/data/parse_gpu_validation.py RAW.txt OUT.json  (from the repository root)

RAW.txt is the script's gpu-validation.txt (kept here as llama_cpp_cuda_h100_raw.txt). The model headers are
rebuilt with make_gpu_models.py, which writes the same files the device machine ran on. The device facts that
the raw file lacks (its HW line is empty: our own probe failed there) are the ones NVML reported on that run.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import make_gpu_models  # noqa: E402  (sibling scripts, not a package)
import make_reference  # noqa: E402

LLAMA_CPP = ("0c1e570 (llama-cpp-python 0.3.36 sdist), CUDA build (GGML_CUDA=ON, sm_90, static), dry run via "
             "common_get_device_memory_data (what llama-fit-params -fitp on prints, in bytes)")
# NVML on the run's machine: 5120-bit HBM3 bus at 2619 MHz, double data rate.
BUS_BITS, MEM_CLOCK_MHZ = 5120, 2619
SERVER_ENV = "QP_KV_UNIFIED=1 QP_N_OUTPUTS_MAX=4"
_BENCH_KEYS = ("n_gpu_layers", "n_prompt", "n_gen", "n_ubatch", "flash_attn", "model_size", "model_n_params",
               "avg_ts", "stddev_ts", "samples_ts")


def _devices(field: str) -> dict[str, dict[str, int]]:
    out = {}
    for part in filter(None, (p.strip() for p in field.split(";"))):
        name, model, context, compute = part.split()
        out[name] = {"model": int(model), "context": int(context), "compute": int(compute)}
    return out


def _cpu_expert_layers(fitted: str, n_layer: int) -> dict[str, Any]:
    """Layers whose experts llama.cpp's -ot sends to the CPU: whole ones and the partial one (gate/down only)."""
    full, partial = [], []
    for pattern in re.findall(r'blk\\\.(\d+)\\\.ffn_([^=]*)=CPU', fitted):
        il, what = int(pattern[0]), pattern[1]
        if il >= n_layer:
            continue  # -ot also names the output layer's index, which has no experts
        (partial if what.startswith("(gate|gate_up|down)") else full).append(il)
    return {"full": full, "partial_gate_down": partial}


def parse(text: str, n_layers: dict[str, int]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    fits: list[dict[str, Any]] = []
    bench: list[dict[str, Any]] = []
    free_nvml = 0
    device_name = driver = ""
    total_mib = 0
    for line in text.splitlines():
        if line.startswith("FREE "):
            free, rest = line[5:].split(" ", 1)
            free_nvml = int(free)
            device_name, total, _used, driver = (s.strip() for s in rest.split(","))
            total_mib = int(total.split()[0])
        elif line.startswith("RUN "):
            name, env, args, devices = (s.strip() for s in line[4:].split("|"))
            runs.append({"model": name, "args": args, "llama_server_slots": env == SERVER_ENV,
                         "llama_cpp": _devices(devices)})
        elif line.startswith("FIT "):
            name, margin, args, fitted = (s.strip() for s in line[4:].split("|", 3))
            ngl = int(re.search(r"-ngl (-?\d+)", fitted).group(1))  # type: ignore[union-attr]
            fit: dict[str, Any] = {"model": name, "margin_mib": int(margin), "budget_mib": free_nvml - int(margin),
                                   "args": args, "n_gpu_layers": ngl}
            if "-ot" in fitted:
                fit["cpu_expert_layers"] = _cpu_expert_layers(fitted, n_layers[name])
            fits.append(fit)
        elif "projected to use" in line and fits:
            m = re.search(r"projected to use (\d+) MiB of device memory vs\. (\d+) MiB", line)
            if m:
                fits[-1]["projected_mib"], fits[-1]["llama_cpp_free_mib"] = int(m.group(1)), int(m.group(2))
        elif line.startswith("BENCH "):
            b = json.loads(line[6:])
            entry = {"model": Path(b["model_filename"]).stem}
            entry.update({k: b[k] for k in _BENCH_KEYS})
            bench.append(entry)
    llama_free = {f["llama_cpp_free_mib"] for f in fits}
    device = {
        "name": device_name, "backend": "cuda", "compute_capability": "9.0", "driver": driver,
        "total_mib": total_mib, "free_mib_nvml": free_nvml,
        "free_mib_llama_cpp": llama_free.pop() if len(llama_free) == 1 else None,
        "bus_width_bits": BUS_BITS, "mem_clock_mhz": MEM_CLOCK_MHZ,
        "bandwidth_bytes_s": BUS_BITS // 8 * MEM_CLOCK_MHZ * 10**6 * 2,
    }
    return {"llama_cpp": LLAMA_CPP, "device": device, "runs": runs, "fits": fits, "bench": bench}


def main(raw: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_gpu_models.make_models(Path(tmp))
        models = {name: make_reference.header(str(path)) for name, path in paths.items()}
    n_layers = {name: int(m["metadata"][m["metadata"]["general.architecture"] + ".block_count"])
                for name, m in models.items()}
    data = parse(Path(raw).read_text(), n_layers)
    data["models"] = models
    Path(out).write_text(json.dumps(data, indent=0, sort_keys=False) + "\n")
    print(len(data["runs"]), "runs,", len(data["fits"]), "fits,", len(data["bench"]), "bench results")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
