"""The worst-case (prompt) compute graph llama.cpp reserves, as tensor sizes for the allocator replay.

Each builder step mirrors a node of llama.cpp's graph for the supported families (llama, qwen2/3, qwen3moe,
gemma2/3, phi3 ...): which ops allocate a new f32 tensor, which compute in place, and which read through a
view. Weights and the KV cache are external. The op order per architecture was taken from llama.cpp's own
graph dumps (GGML_SCHED_DEBUG=2) and the sizes check out against its compute-buffer figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.formats.ggml_types import GGMLType
from engine.recommend.galloc import Tensor, peak_bytes
from engine.recommend.kv_cache import ContextParams, KvLayout
from engine.recommend.model import ModelDescription

F32 = 4
I32 = 4
_MOE_REDUCTION_MAX_USED = 15  # ggml-cuda fuses the weighted sum of at most this many experts
I64 = 8
_QUANTIZED = frozenset(t for t in GGMLType if t not in (GGMLType.F32, GGMLType.F16, GGMLType.BF16))


@dataclass(frozen=True, slots=True)
class GraphStyle:
    """The per-architecture shape of a layer."""

    fused_qkv: bool = False
    qkv_order: str = "qvk"
    qkv_bias: bool = False
    qk_norm: bool = False
    post_norms: bool = False
    fused_up: bool = False
    residual_first: bool = False  # phi3 adds the FFN output to the residual, not the other way round

    @classmethod
    def of(cls, desc: ModelDescription) -> GraphStyle:
        names = {t.name for t in desc.tensors if t.name.startswith("blk.0.")}
        gemma = desc.arch.startswith("gemma")
        return cls(
            fused_qkv="blk.0.attn_qkv.weight" in names,
            qkv_order="qkv" if gemma else "qvk",
            qkv_bias="blk.0.attn_q.bias" in names or "blk.0.attn_qkv.bias" in names,
            qk_norm="blk.0.attn_q_norm.weight" in names,
            post_norms="blk.0.post_attention_norm.weight" in names or "blk.0.attn_post_norm.weight" in names,
            residual_first=desc.arch == "phi3",
            fused_up=desc.arch == "phi3" or ("blk.0.ffn_up.weight" in names and "blk.0.ffn_gate.weight" not in names
                                             and not desc.is_moe),
        )


@dataclass(frozen=True, slots=True)
class Segment:
    """The part of the graph one device computes: layers [first, last) and optionally the output head.

    ``fa_extra_per_cell`` is what the device's flash-attention kernel adds to its output tensor per KV cell
    (CUDA converts a quantized K/V view to f16 there); ``alignment`` is the device buffer's.
    ``input_copies`` > 1 models pipeline parallelism (the scheduler keeps that many copies of every input).
    ``weight_copies`` maps a layer (n_layer for the output layer) to its CPU-resident weights, by role
    (``attn_q``, ``ffn_down``, ``output`` ...), that the scheduler copies into this device's buffer to run a big
    batch there (``op_offload``). Each weight is its own split, so each copy lives only for the op that reads it.
    ``moe_fusion``: the device fuses MoE routing (top-k) and the weighted sum of experts (CUDA), and ggml keeps
    those ops' inputs alive until the fused kernel has run, so they are not computed in place.
    ``host_kv``: layers whose KV cache is in host memory while their attention runs here; the scheduler copies
    the layer's whole K and V views in for the attention op.
    """

    first: int
    last: int
    head: bool
    alignment: int = 32
    fa_extra_per_cell: int = 0
    embed_input: bool = True
    input_copies: int = 1
    weight_copies: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    moe_fusion: bool = False
    host_kv: frozenset[int] = frozenset()


class _Builder:
    def __init__(self, copies: int = 1) -> None:
        self.inputs: list[Tensor] = []
        self.nodes: list[Tensor] = []
        self._seen: dict[str, Tensor] = {}
        self._copies = copies
        self.lazy_inputs = False  # inputs are copied in at the start of the split that first reads them
        self._split_pos = 0
        self.weights: Mapping[str, int] = {}  # the current layer's copied-in weights, by role

    def inp(self, key: str, size: int) -> Tensor:
        """A graph input, created on first use (ggml lists leafs in the order the graph reaches them)."""
        t = self._seen.get(key)
        if t is None:
            copies = self._copies
            t = self._seen[key] = Tensor(size * copies, output=copies > 1, name=key)
            if self.lazy_inputs:
                self.copy_in(t)
            else:
                self.inputs.append(t)
        return t

    def op(self, size: int, *srcs: Tensor, views: tuple[Tensor, ...] = (), inplace: bool = False,
           output: bool = False, name: str = "") -> Tensor:
        t = Tensor(size, [(s, False) for s in srcs] + [(v, True) for v in views], inplace, output, name=name)
        self.nodes.append(t)
        return t

    def split(self) -> None:
        """The scheduler starts a new split here: its input copies are allocated at this point."""
        self._split_pos = len(self.nodes)

    def copy_in(self, t: Tensor) -> Tensor:
        """Allocate ``t`` at the start of the current split, after the split's earlier inputs."""
        self.nodes.insert(self._split_pos, t)
        self._split_pos += 1
        return t

    def w(self, role: str) -> tuple[Tensor, ...]:
        """The copy of a CPU weight an offloaded op reads; the op starts a split, the copy is freed after it."""
        size = self.weights.get(role, 0)
        if not size:
            return ()
        self.split()
        return (self.copy_in(Tensor(size, name=role)),)

    def sink(self, *srcs: Tensor, views: tuple[Tensor, ...] = ()) -> None:
        """A node whose result lives elsewhere (a KV-cache store)."""
        self.nodes.append(Tensor(0, [(s, False) for s in srcs] + [(v, True) for v in views], external=True))


@dataclass(frozen=True, slots=True)
class _Dims:
    T: int
    E: int
    n_out: int


def _norm(b: _Builder, x: Tensor, size: int, *, via_view: bool = False, role: str = "") -> Tensor:
    n = b.op(size, views=(x,), inplace=True) if via_view else b.op(size, x, inplace=True)
    return b.op(size, n, *b.w(role), inplace=True)  # multiply by the norm weight


def _rot_size(head_dim: int, qtype_quantized: bool, *, largest: bool) -> int:
    """Side of the Hadamard matrix llama.cpp rotates a quantized K (or V) cache with, 0 when it does not."""
    if not qtype_quantized or head_dim % 64:
        return 0
    n = 64
    while largest and head_dim % (n * 2) == 0:
        n *= 2
    return n


def rotation_inputs(desc: ModelDescription, params: ContextParams) -> tuple[int, ...]:
    """Bytes of the Hadamard matrices (K, then V) one attention kind feeds the graph; empty for f16 caches."""
    n_rk = _rot_size(desc.head_dim_k, params.type_k in _QUANTIZED, largest=True)
    n_rv = _rot_size(desc.head_dim_v, params.type_v in _QUANTIZED, largest=False)
    return tuple(n * n * F32 for n in (n_rk, n_rv) if n)


def _proj(b: _Builder, x: Tensor, size: int, *, bias: bool, norm: bool, rope: Tensor | None,
          rot: Tensor | None, role: str) -> Tensor:
    """One of Q/K/V: matmul, bias, per-head norm, rope (through a reshape view), Hadamard rotation."""
    t = b.op(size, *b.w(role), x)
    if bias:
        t = b.op(size, t, inplace=True)
    if norm:
        t = _norm(b, t, size, via_view=True)
        if rope is not None:
            t = b.op(size, t, rope, inplace=True)
    elif rope is not None:
        t = b.op(size, rope, views=(t,), inplace=True)
    return b.op(size, rot, views=(t,)) if rot is not None else t


def _store(b: _Builder, idx_key: str, size: int, host: bool) -> tuple[Tensor, ...]:
    """The row indices a KV-cache store reads; none here when the store runs on the host's cache."""
    return () if host else (b.inp(idx_key, size),)


def _qkv(b: _Builder, desc: ModelDescription, style: GraphStyle, x: Tensor, T: int, kind: str,
         params: ContextParams, host_kv: bool) -> tuple[Tensor, Tensor]:
    """Q, K and V projections with their cache stores; returns (Q, V) as the attention reads them."""
    q_w, k_w, v_w = desc.n_head * desc.head_dim_k, desc.n_embd_k_gqa, desc.n_embd_v_gqa
    quant_k, quant_v = params.type_k in _QUANTIZED, params.type_v in _QUANTIZED
    n_rk = _rot_size(desc.head_dim_k, quant_k, largest=True)
    n_rv = _rot_size(desc.head_dim_v, quant_v, largest=False)
    rot_k = b.inp(f"k_rot_{kind}", n_rk * n_rk * F32) if n_rk else None
    pos = b.inp("inp_pos", T * I32)
    if style.fused_qkv:
        qkv = b.op((q_w + k_w + v_w) * T * F32, *b.w("attn_qkv"), x)
        q = b.op(q_w * T * F32, pos, views=(qkv,), inplace=True)
        q = b.op(q.size, rot_k, views=(q,)) if rot_k is not None else q
        k = b.op(k_w * T * F32, pos, views=(qkv,), inplace=True)
        k = b.op(k.size, rot_k, views=(k,)) if rot_k is not None else k
        b.sink(*_store(b, f"k_idxs_{kind}", T * I64, host_kv), views=(k,))
        v = qkv if params.flash_attn else b.op(v_w * T * F32, views=(qkv,))  # a transposed store needs it contiguous
        return q, v
    made: dict[str, Tensor] = {}
    for which in style.qkv_order:
        width = {"q": q_w, "k": k_w, "v": v_w}[which]
        rot = (b.inp(f"v_rot_{kind}", n_rv * n_rv * F32) if n_rv else None) if which == "v" else rot_k
        made[which] = _proj(b, x, width * T * F32, bias=style.qkv_bias, norm=style.qk_norm and which != "v",
                            rope=None if which == "v" else pos, rot=rot, role=f"attn_{which}")
    b.sink(*_store(b, f"k_idxs_{kind}", T * I64, host_kv), views=(made["k"],))
    return made["q"], made["v"]


def _attention(b: _Builder, desc: ModelDescription, style: GraphStyle, x: Tensor, d: _Dims,
               kv: KvLayout, il: int, params: ContextParams, seg: Segment) -> Tensor:
    T = d.T
    swa = desc.swa_layers[il]
    kind = "swa" if swa else "full"
    n_kv = kv.cells(il, swa)  # per stream: each sequence attends to its own stream
    fa = params.flash_attn
    host_kv = il in seg.host_kv
    q, v = _qkv(b, desc, style, x, T, kind, params, host_kv)
    kv_in: tuple[Tensor, ...] = ()
    if host_kv:  # the cache store ran on the host; attention here starts a split with K/V copies
        b.split()
        kv_in = (b.copy_in(Tensor(kv.k_bytes[il])), b.copy_in(Tensor(kv.v_bytes[il])))
    b.sink(*_store(b, f"v_idxs_{kind}", T * I64 if fa else T * desc.n_embd_v_gqa * I64, host_kv), views=(v,))
    mask = b.inp(f"mask_{kind}", n_kv * T * (2 if fa else F32))
    heads_v = desc.n_head * desc.head_dim_v
    if fa:
        out = b.op(heads_v * T * F32 + seg.fa_extra_per_cell * n_kv * params.n_stream, mask, *kv_in, views=(q,))
        if params.type_v in _QUANTIZED and desc.head_dim_v % 64 == 0:
            out = b.op(heads_v * T * F32, b.inp(f"v_rot_{kind}", 64 * 64 * F32), views=(out,))  # undo the V rotation
        return b.op(d.E * T * F32, *b.w("attn_output"), views=(out,))
    kq = b.op(n_kv * T * desc.n_head * F32, *kv_in[:1], views=(q,))
    kq = b.op(kq.size, kq, mask, inplace=True)  # soft_max_ext in place
    kqv = b.op(heads_v * T * F32, kq, *kv_in[1:])
    cont = b.op(heads_v * T * F32, views=(kqv,))
    return b.op(d.E * T * F32, *b.w("attn_output"), cont)


def _moe(b: _Builder, desc: ModelDescription, x: Tensor, d: _Dims, fusion: bool) -> Tensor:
    T, E, k = d.T, d.E, desc.n_expert_used
    n_exp = desc.n_expert
    logits = b.op(n_exp * T * F32, *b.w("ffn_gate_inp"), x)
    probs = b.op(logits.size, logits, inplace=True)
    order = b.op(n_exp * T * I32, views=(probs,))
    picked = b.op(k * T * F32, views=(probs, order))
    total = b.op(T * F32, views=(picked,))
    clamped = b.op(T * F32, total, inplace=True)
    weights = b.op(k * T * F32, clamped, views=(picked,), inplace=True)
    if fusion and _topk_fusable(n_exp):  # CUDA keeps the fused routing ops' tensors until the next node
        b.sink(logits, probs, order, picked, total, clamped, weights)
    up = b.op(desc.n_ff_exp * k * T * F32, *b.w("ffn_up_exps"), views=(x, order))
    gate = b.op(up.size, *b.w("ffn_gate_exps"), views=(x, order))
    act = b.op(gate.size, gate, up)
    experts = b.op(E * k * T * F32, *b.w("ffn_down_exps"), act, views=(order,))
    down = b.op(experts.size, experts, views=(weights,), inplace=True)
    if k < 2:
        return b.op(E * T * F32, views=(down,))
    acc = b.op(E * T * F32, views=(down, down), inplace=True)
    for _ in range(k - 2):
        acc = b.op(E * T * F32, acc, views=(down,), inplace=True)
    if fusion and k <= _MOE_REDUCTION_MAX_USED:  # the fused weighted sum reads the unweighted experts
        b.sink(experts, views=(weights,))
    return acc


def _topk_fusable(n_expert: int) -> bool:
    """ggml-cuda's fused top-k routing handles powers of two up to 512 experts, and 288 or 576."""
    return (n_expert & (n_expert - 1) == 0 and n_expert <= 512) or n_expert in (288, 576)


def _ffn(b: _Builder, desc: ModelDescription, style: GraphStyle, x: Tensor, d: _Dims, fusion: bool) -> Tensor:
    T = d.n_out
    if desc.is_moe:
        return _moe(b, desc, x, _Dims(T, d.E, d.n_out), fusion)
    F = desc.n_ff
    if style.fused_up:
        act = b.op(F * T * F32, b.op(2 * F * T * F32, *b.w("ffn_up"), x))
    else:
        up = b.op(F * T * F32, *b.w("ffn_up"), x)
        gate = b.op(F * T * F32, *b.w("ffn_gate"), x)
        act = b.op(F * T * F32, gate, up)
    return b.op(d.E * T * F32, *b.w("ffn_down"), act)


def _layer(b: _Builder, desc: ModelDescription, style: GraphStyle, inp: Tensor, d: _Dims, kv: KvLayout,
           il: int, params: ContextParams, seg: Segment, last: bool) -> Tensor:
    E = d.E
    b.weights = seg.weight_copies.get(il, {})
    cur = _norm(b, inp, E * d.T * F32, role="attn_norm")
    cur = _attention(b, desc, style, cur, d, kv, il, params, seg)
    if style.post_norms:
        cur = _norm(b, cur, E * d.T * F32)
    if last:
        out_ids = b.inp("out_ids", d.n_out * I32)
        cur = b.op(E * d.n_out * F32, cur, out_ids)
        inp = b.op(E * d.n_out * F32, inp, out_ids)
    T = d.n_out if last else d.T
    ffn_inp = b.op(E * T * F32, cur, inp, inplace=True)
    cur = _norm(b, ffn_inp, E * T * F32, role="ffn_norm")
    cur = _ffn(b, desc, style, cur, _Dims(T, E, T), seg.moe_fusion)
    if style.post_norms:
        cur = _norm(b, cur, E * T * F32)
    if style.residual_first:
        return b.op(E * T * F32, ffn_inp, cur, inplace=True)
    return b.op(E * T * F32, cur, ffn_inp, inplace=True)


def compute_peak(desc: ModelDescription, params: ContextParams, kv: KvLayout, seg: Segment) -> int:
    """Compute-buffer bytes for the layers and head in ``seg``, by replaying ggml-alloc over the pp graph."""
    b = _Builder(seg.input_copies)
    b.lazy_inputs = bool(seg.weight_copies)
    T = params.n_tokens_pp
    n_out = params.n_outputs_pp
    d = _Dims(T, desc.n_embd, n_out)
    style = GraphStyle.of(desc)
    if seg.embed_input:
        tokens = b.inp("inp_tokens", T * I32)
        b.inp("inp_embd", desc.n_embd * T * F32)  # allocated for embedding input, unused for tokens
        cur = b.op(desc.n_embd * T * F32, tokens)
    else:
        cur = b.inp("layer_input", desc.n_embd * T * F32)
    for il in range(seg.first, seg.last):
        last = il == desc.n_layer - 1
        cur = _layer(b, desc, style, cur, d, kv, il, params, seg, last)
    if seg.head:
        rows = n_out if seg.last == desc.n_layer else T
        b.weights = seg.weight_copies.get(desc.n_layer, {})
        cur = _norm(b, cur, desc.n_embd * rows * F32, role="output_norm")
        b.op(desc.n_vocab * rows * F32, *b.w("output"), cur, output=True)
    return peak_bytes(b.inputs, b.nodes, alignment=seg.alignment)
