"""llama-quantize's side: a one-tensor F32 GGUF, timed runs of ``llama-quantize --pure``, and its bytes.

Each run is a whole process (start, read the GGUF, quantize, write), so we subtract the time of the same
command with target type F32, which reads and writes the same file without quantizing anything. What is
left is llama.cpp's quantization time for the tensor, the same thing we time for our kernels.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from bench.timing import best_time
from bench.workload import TENSOR_NAME

# Enough llama hyperparameters for llama-quantize to load the file as a one-layer model.
_HEADS = 32


def write_synthetic_gguf(path: Path, rows: np.ndarray) -> None:
    """An F32 GGUF holding ``rows`` as the only tensor of a one-block llama model."""
    n_rows, n_per_row = rows.shape
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("quantpick-bench")
    writer.add_context_length(4096)
    writer.add_embedding_length(n_per_row)
    writer.add_block_count(1)
    writer.add_feed_forward_length(n_rows)
    writer.add_head_count(_HEADS)
    writer.add_head_count_kv(_HEADS)
    writer.add_rope_dimension_count(n_per_row // _HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tensor(TENSOR_NAME, rows)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def read_tensor_bytes(path: Path) -> bytes:
    """The raw bytes of the benchmark tensor in a GGUF written by llama-quantize."""
    reader = gguf.GGUFReader(path)
    for tensor in reader.tensors:
        if tensor.name == TENSOR_NAME:
            return np.ascontiguousarray(tensor.data).tobytes()
    raise LookupError(f"{path} has no tensor {TENSOR_NAME}")


@dataclass(frozen=True, slots=True)
class LlamaQuantize:
    """One llama-quantize binary and the synthetic input it reads."""

    exe: Path
    src: Path
    workdir: Path

    def output_path(self, type_name: str) -> Path:
        return self.workdir / f"out-{type_name}.gguf"

    def run(self, type_name: str, threads: int) -> None:
        """One full llama-quantize process; CalledProcessError (with its stderr) if it fails."""
        cmd = [str(self.exe), "--pure", str(self.src), str(self.output_path(type_name)), type_name, str(threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr)

    def time(self, type_name: str, threads: int, *, repeat: int, budget_s: float) -> float:
        """Fastest wall time of whole runs, in seconds (the caller subtracts the baseline)."""
        return best_time(lambda: self.run(type_name, threads), repeat=repeat, budget_s=budget_s)

    def baseline(self, threads: int, *, repeat: int) -> float:
        """Fastest F32 -> F32 run: process start, read and write, with no quantization."""
        return self.time("F32", threads, repeat=repeat, budget_s=float("inf"))

    def build_info(self) -> str:
        """llama.cpp's own ``build = N (commit)`` line, printed by every run."""
        cmd = [str(self.exe), "--pure", str(self.src), str(self.output_path("F32")), "F32", "1"]
        err = subprocess.run(cmd, capture_output=True, text=True, check=False).stderr
        return next((ln.split(":", 1)[-1].strip() for ln in err.splitlines() if "build =" in ln), "unknown build")
