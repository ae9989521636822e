"""Which device holds each layer, as llama.cpp's ``llama_model::load_tensors`` decides it.

``-ngl N`` counts the n_layer repeating layers plus the output layer; the last N of those go to the GPUs, so
the output layer is offloaded first and the token embeddings never are. GPU layers are spread over the
devices by ``upper_bound`` on the cumulative split fractions (``-ts``, or free memory by default).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

CPU = -1


@dataclass(frozen=True, slots=True)
class Placement:
    """A layer layout.

    Attributes:
        n_gpu_layers: llama.cpp's ``-ngl`` (0 .. n_layer + 1).
        layers_per_gpu: layers each GPU holds, in device order (``-ts`` as integer counts).
        n_cpu_moe: the experts of the first N layers stay on the CPU (``--n-cpu-moe N``).
    """

    n_gpu_layers: int
    layers_per_gpu: tuple[int, ...] = ()
    n_cpu_moe: int = 0

    def devices(self, n_layer: int) -> tuple[int, ...]:
        """Device of every layer 0..n_layer (the last entry is the output layer); CPU is -1."""
        act = min(self.n_gpu_layers, n_layer + 1) if self.layers_per_gpu else 0
        start = n_layer + 1 - act
        cumulative: list[int] = []
        total = 0
        for count in self.layers_per_gpu:
            total += count
            cumulative.append(total)
        out: list[int] = []
        for il in range(n_layer + 1):
            if il < start or not cumulative:
                out.append(CPU)
                continue
            j = il - start
            out.append(min(bisect.bisect_right(cumulative, j), len(cumulative) - 1))
        return tuple(out)

    @property
    def ts_arg(self) -> str:
        """The ``-ts`` argument, or "" for a single GPU."""
        return ",".join(str(c) for c in self.layers_per_gpu) if len(self.layers_per_gpu) > 1 else ""


def split_by_fraction(n_gpu_layers: int, n_layer: int, weights: Sequence[float]) -> tuple[int, ...]:
    """Layers per GPU for fractional splits (free memory, or a user's ``-ts 3,1``), the way llama.cpp rounds.

    llama.cpp sends GPU layer j to the first device whose cumulative fraction exceeds j / n_gpu_layers.
    """
    act = min(n_gpu_layers, n_layer + 1)
    if not weights or act <= 0:
        return tuple(0 for _ in weights)
    total = float(sum(weights)) or 1.0
    cumulative: list[float] = []
    running = 0.0
    for w in weights:
        running += float(w)
        cumulative.append(running / total)
    counts = [0] * len(weights)
    for j in range(act):
        dev = min(bisect.bisect_right(cumulative, j / act), len(weights) - 1)
        counts[dev] += 1
    return tuple(counts)


def all_on_gpus(n_layer: int, free: Sequence[int]) -> Placement:
    """Every layer and the output on the GPUs, split by free memory (llama.cpp's default)."""
    n = n_layer + 1
    return Placement(n, split_by_fraction(n, n_layer, free))


def cpu_only() -> Placement:
    return Placement(0, ())
