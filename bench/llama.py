"""llama-quantize's side: a one-tensor F32 GGUF, timed runs of ``llama-quantize --pure``, and its bytes.

Each run is a whole process (start, map the GGUF, quantize, write). Timed runs write to /dev/null, and we
subtract the time of the same command with target type F32, which copies the tensor without quantizing.
Writing to a real file would bias the subtraction (the F32 copy writes 4 bytes a weight, Q4_0 about 0.6),
while mapping the input pages costs well under a few ms. What is left is llama.cpp's quantization time
for the tensor, the same thing we time for our kernels. One extra untimed run writes a real file so the
bytes can be compared with ours.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from bench.timing import best_time
from bench.workload import TENSOR_NAME

def write_synthetic_gguf(path: Path, rows: np.ndarray) -> None:
    """An F32 GGUF holding ``rows`` as the only tensor of a one-block llama model.

    The four llama keys are the ones llama-quantize (0.3.36) refuses to load without; found by trying.
    """
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("quantpick-bench")
    writer.add_context_length(4096)
    writer.add_embedding_length(rows.shape[1])
    writer.add_block_count(1)
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

    def run(self, type_name: str, threads: int, out: Path = Path(os.devnull)) -> None:
        """One full llama-quantize process; CalledProcessError (with its stderr) if it fails."""
        cmd = [str(self.exe), "--pure", str(self.src), str(out), type_name, str(threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr)

    def time(self, type_name: str, threads: int, *, repeat: int, budget_s: float) -> float:
        """Fastest wall time of whole runs writing to /dev/null, in seconds (the caller subtracts the baseline)."""
        return best_time(lambda: self.run(type_name, threads), repeat=repeat, budget_s=budget_s)

    def baseline(self, threads: int, *, repeat: int) -> float:
        """Fastest F32 -> F32 run: process start, map, copy to /dev/null, no quantization."""
        return self.time("F32", threads, repeat=repeat, budget_s=float("inf"))

    def quantized_bytes(self, type_name: str) -> bytes:
        """Run once into a real file and return the tensor's bytes; the file is removed afterwards."""
        out = self.output_path(type_name)
        try:
            self.run(type_name, 1, out)
            return read_tensor_bytes(out)
        finally:
            out.unlink(missing_ok=True)

    def build_info(self) -> str:
        """llama.cpp's own ``version: ... (build N, commit X)`` line, printed by every run."""
        cmd = [str(self.exe), "--pure", str(self.src), os.devnull, "F32", "1"]
        err = subprocess.run(cmd, capture_output=True, text=True, check=False).stderr
        found = (ln.split(":", 1)[1].strip() for ln in err.splitlines() if ln.startswith(("version:", "main: build")))
        return next(found, "unknown build")
