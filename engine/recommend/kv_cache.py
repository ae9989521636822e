"""KV cache sizes exactly as ``llama_kv_cache`` allocates them (src/llama-kv-cache.cpp, -iswa.cpp).

Context is padded to 256; without a unified cache each sequence gets its own stream of n_ctx/n_seq cells.
Sliding-window layers keep only ``PAD(min(cells, n_swa * n_seq_unified + n_ubatch), 256)`` cells. Without
flash attention V is stored transposed and padded to the widest layer. Each layer's K and V tensors are
separate allocations, so each is padded to the device buffer's alignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType, row_bytes
from engine.recommend.model import ModelDescription

CTX_PAD = 256
KV_TYPES: dict[str, GGMLType] = {
    "f32": GGMLType.F32, "f16": GGMLType.F16, "bf16": GGMLType.BF16, "q8_0": GGMLType.Q8_0,
    "q4_0": GGMLType.Q4_0, "q4_1": GGMLType.Q4_1, "q5_0": GGMLType.Q5_0, "q5_1": GGMLType.Q5_1,
    "iq4_nl": GGMLType.IQ4_NL,
}
_PLAIN = frozenset({GGMLType.F32, GGMLType.F16, GGMLType.BF16})


def pad(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def kv_type(name: str | GGMLType) -> GGMLType:
    """``--cache-type-k/-v`` value to a ggml type.

    Raises:
        UsageError: a type llama.cpp does not accept for the KV cache.
    """
    if isinstance(name, GGMLType):
        return name
    try:
        return KV_TYPES[name.strip().lower()]
    except KeyError:
        raise UsageError(f"{name!r} is not a KV cache type.", "Use one of: " + ", ".join(KV_TYPES) + ".") from None


@dataclass(frozen=True, slots=True)
class ContextParams:
    """The llama_context_params that shape memory, with llama.cpp's defaults.

    Attributes:
        n_ctx: requested context (llama.cpp pads it to 256).
        n_seq: parallel sequences (``-np``).
        n_ubatch: physical batch (``-ub``), sizes the compute graph and the SWA window.
        n_batch: logical batch (``-b``), bounds the outputs per ubatch.
        type_k: K cache type.
        type_v: V cache type (quantized V needs flash attention).
        flash_attn: flash attention on (llama.cpp's "auto" turns it on wherever the backend supports it).
        kv_unified: one KV stream shared by all sequences (``-kvu``).
        swa_full: full-size cache for sliding-window layers (``--swa-full``).
        offload_kqv: KV of offloaded layers on the GPU (``-nkvo`` turns it off).
        n_outputs_max: logits rows the worst-case batch reserves; 0 means n_batch (llama-cli, llama-fit-params),
            llama-server reserves one per slot.
    """

    n_ctx: int = 4096
    n_seq: int = 1
    n_ubatch: int = 512
    n_batch: int = 2048
    type_k: GGMLType = GGMLType.F16
    type_v: GGMLType = GGMLType.F16
    flash_attn: bool = True
    kv_unified: bool = False
    swa_full: bool = False
    offload_kqv: bool = True
    n_outputs_max: int = 0

    @classmethod
    def llama_server(cls, *, n_parallel: int | None = None, **kwargs: object) -> ContextParams:
        """llama-server's defaults: 4 slots sharing one unified KV pool, logits reserved per slot.

        An explicit ``-np N`` keeps one KV stream per slot instead (llama-server unifies only when it picks
        the slot count itself).
        """
        if n_parallel is None:
            return cls(n_seq=4, kv_unified=True, n_outputs_max=4, **kwargs)  # type: ignore[arg-type]
        return cls(n_seq=n_parallel, kv_unified=False, n_outputs_max=n_parallel, **kwargs)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.n_ctx < 1 or self.n_seq < 1 or self.n_ubatch < 1:
            raise UsageError("Context size, sequences and batch size must be positive.")
        if not self.flash_attn and self.type_v not in _PLAIN:
            raise UsageError(
                f"A quantized V cache ({self.type_v.name}) needs flash attention, as in llama.cpp.",
                "Turn flash attention on, or keep the V cache at f16.",
            )

    @property
    def n_ctx_padded(self) -> int:
        """``cparams.n_ctx`` after llama.cpp's padding (and its rounding to a multiple of n_seq)."""
        n_ctx = pad(self.n_ctx, CTX_PAD)
        if self.kv_unified:
            return n_ctx
        return self.n_ctx_seq * self.n_seq

    @property
    def n_ctx_seq(self) -> int:
        """Cells per stream (``cparams.n_ctx_seq``)."""
        n_ctx = pad(self.n_ctx, CTX_PAD)
        return n_ctx if self.kv_unified else pad(n_ctx // self.n_seq, CTX_PAD)

    @property
    def n_stream(self) -> int:
        return 1 if self.kv_unified else self.n_seq

    @property
    def n_tokens_pp(self) -> int:
        """Tokens in the worst-case (prompt) graph llama.cpp reserves: min(n_ctx, n_ubatch)."""
        return min(self.n_ctx_padded, self.n_ubatch, self.n_batch)

    @property
    def n_outputs_pp(self) -> int:
        """Logits rows of that graph: min(tokens, n_outputs_max), n_outputs_max defaulting to n_batch."""
        limit = self.n_outputs_max or min(self.n_ctx_padded, self.n_batch)
        return min(self.n_tokens_pp, limit)


@dataclass(frozen=True, slots=True)
class KvLayout:
    """Cells per layer kind and the bytes of one layer's K and V tensors.

    Attributes:
        cells_full: cells of full-attention layers.
        cells_swa: cells of sliding-window layers (0 when the model has none).
        k_bytes: per layer, bytes of its K tensor (0 for a layer without KV).
        v_bytes: per layer, bytes of its V tensor.
    """

    cells_full: int
    cells_swa: int
    k_bytes: tuple[int, ...]
    v_bytes: tuple[int, ...]

    def layer_bytes(self, il: int, *, alignment: int = 1) -> int:
        """K plus V of layer ``il`` as one device buffer holds them (each padded to ``alignment``)."""
        return pad(self.k_bytes[il], alignment) + pad(self.v_bytes[il], alignment)

    def total(self, *, alignment: int = 1) -> int:
        return sum(self.layer_bytes(il, alignment=alignment) for il in range(len(self.k_bytes)))

    def cells(self, il: int, swa: bool) -> int:
        return self.cells_swa if swa else self.cells_full


def kv_layout(desc: ModelDescription, params: ContextParams) -> KvLayout:
    """Cells and K/V bytes per layer for ``desc`` under ``params``.

    Raises:
        UsageError: a head size the chosen cache type cannot store (rows must be whole blocks).
    """
    full = params.n_ctx_seq
    swa = 0
    if any(desc.swa_layers):
        n_seq_unified = params.n_seq if params.kv_unified else 1
        swa = full if params.swa_full else pad(min(full, desc.n_swa * n_seq_unified + params.n_ubatch), CTX_PAD)
    v_width_trans = desc.n_embd_v_gqa  # widest layer; all layers share the width in supported models
    k_bytes: list[int] = []
    v_bytes: list[int] = []
    for il in range(desc.n_layer):
        cells = swa if desc.swa_layers[il] else full
        v_width = desc.n_embd_v_gqa if params.flash_attn else v_width_trans
        k_bytes.append(row_bytes(params.type_k, desc.n_embd_k_gqa) * cells * params.n_stream)
        v_bytes.append(row_bytes(params.type_v, v_width) * cells * params.n_stream)
    return KvLayout(full, swa, tuple(k_bytes), tuple(v_bytes))
