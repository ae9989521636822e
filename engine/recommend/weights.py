"""Weight bytes per layer for a file type, as each device's buffer allocates them.

Types come from the engine's own llama-quantize rules (``engine.quant.sizes.plan_types``), so the bytes are
exact, not parameters x a constant. llama.cpp groups tensors into the input layer (token embeddings, kept on
the CPU), the repeating layers, and the output layer (output norm and matrix; a tied output is the token
embedding loaded a second time on the output device). A CUDA buffer pads the last row of a quantized matrix
to 512 values and every tensor to 128 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType, row_bytes, tensor_bytes
from engine.quant.ftypes import FileType, parse_file_type
from engine.quant.rules import layer_of
from engine.quant.sizes import plan_types
from engine.recommend.kv_cache import pad
from engine.recommend.model import ModelDescription

_UNQUANTIZED = frozenset({GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.F64, GGMLType.I8,
                          GGMLType.I16, GGMLType.I32, GGMLType.I64})


@dataclass(frozen=True, slots=True)
class BufferRules:
    """How one backend's buffer sizes a tensor: alignment and the quantized-row padding (0 = none)."""

    alignment: int
    row_padding: int = 0

    def alloc_size(self, qtype: GGMLType, shape: Sequence[int]) -> int:
        """Bytes the buffer reserves for one tensor (ggml_backend_buft_get_alloc_size, then padded)."""
        size = tensor_bytes(qtype, tuple(shape))
        if self.row_padding and qtype not in _UNQUANTIZED and shape[0] % self.row_padding:
            size += row_bytes(qtype, self.row_padding - shape[0] % self.row_padding)
        return pad(size, self.alignment)


# ggml-backend: CPU buffers align to 32 bytes; CUDA/HIP to 128 with MATRIX_ROW_PADDING 512; Metal and
# Vulkan/SYCL use plain sizes (Vulkan's alignment is the device's minStorageBufferOffsetAlignment, <= 256).
BUFFER_RULES: dict[str, BufferRules] = {
    "cpu": BufferRules(32),
    "cuda": BufferRules(128, 512),
    "rocm": BufferRules(128, 512),
    "metal": BufferRules(32),
    "vulkan": BufferRules(256),
    "sycl": BufferRules(256),
}


def rules_for(backend: str) -> BufferRules:
    return BUFFER_RULES.get(backend, BUFFER_RULES["cpu"])


@dataclass(frozen=True, slots=True)
class PlacedTensor:
    """A tensor of the file to be loaded: name, GGUF shape, type, and its llama.cpp layer.

    ``layer`` is the block index, -1 for the input layer (token embeddings) and ``n_layer`` for the output
    layer, matching llama.cpp's numbering where the output counts as layer n_layer for ``-ngl``.
    """

    name: str
    shape: tuple[int, ...]
    qtype: GGMLType
    layer: int
    is_expert: bool = False

    @property
    def nbytes(self) -> int:
        return tensor_bytes(self.qtype, self.shape)


@dataclass(frozen=True, slots=True)
class WeightPlan:
    """All tensors llama.cpp would create for one file type, with their layers.

    Attributes:
        file_type: the file type these sizes are for.
        tensors: tensors in load order; a tied output appears twice (input copy and output copy).
        file_bytes: sum of the tensors' own bytes in the file (tied output counted once).
    """

    file_type: FileType
    tensors: tuple[PlacedTensor, ...]
    file_bytes: int

    def layer_bytes(self, layer: int, rules: BufferRules, *, experts: bool | None = None) -> int:
        """Bytes of one layer's tensors on a device with ``rules``; ``experts`` filters MoE expert tensors."""
        return sum(
            rules.alloc_size(t.qtype, t.shape)
            for t in self.tensors
            if t.layer == layer and (experts is None or t.is_expert == experts)
        )

    def largest_matrix_bytes(self, layer: int, rules: BufferRules) -> int:
        """The largest single weight of a layer (what an offloaded op copies to the GPU at once)."""
        return max((rules.alloc_size(t.qtype, t.shape) for t in self.tensors if t.layer == layer), default=0)


def weight_role(name: str) -> str:
    """What a weight does in its layer: "blk.3.attn_q.weight" -> "attn_q", "output.weight (tied)" -> "output"."""
    parts = name.split(".")
    return parts[2] if parts[0] == "blk" and len(parts) > 2 else parts[0]


def _layer(name: str, n_layer: int) -> int:
    il = layer_of(name)
    if il is not None:
        return il
    return -1 if name.startswith("token_embd") or name.startswith("token_types") else n_layer


def weight_plan(desc: ModelDescription, file_type: FileType | str | None = None) -> WeightPlan:
    """Per-tensor types and bytes of ``desc`` written as ``file_type``.

    ``file_type`` None keeps a GGUF source as it is (its own types); otherwise the types are those
    llama-quantize would choose (a GGUF source is then requantized).

    Raises:
        UsageError: unknown file type, a model without a tensor list, or a row no type can hold.
    """
    if not desc.tensors:
        raise UsageError(f"The tensor list of {desc.name} is unknown, so its weights cannot be sized.")
    if file_type is None:
        if desc.file_type is None and desc.source != "gguf":
            raise UsageError("Pick a file type: this model is not a GGUF yet.")
        typed = [(t.name, t.shape, t.source) for t in desc.tensors]
        ft = desc.file_type or parse_file_type("F16")
    else:
        ft = file_type if isinstance(file_type, FileType) else parse_file_type(file_type)
        choices = plan_types(desc.tensors, ft, facts=desc.facts())
        typed = [(c.name, c.shape, c.target) for c in choices]
    placed = [
        PlacedTensor(name, tuple(shape), qtype, _layer(name, desc.n_layer), "_exps." in name)
        for name, shape, qtype in typed
    ]
    file_bytes = sum(t.nbytes for t in placed)
    if desc.tied_embeddings:
        embd = next((t for t in placed if t.name == "token_embd.weight"), None)
        if embd is not None:
            placed.append(PlacedTensor("output.weight (tied)", embd.shape, embd.qtype, desc.n_layer))
    return WeightPlan(ft, tuple(placed), file_bytes)
