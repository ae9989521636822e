"""llama-quantize's per-tensor type choice (quant-spec 5.3-5.6) written as promotion tables.

A file type gives every eligible weight its base type; these tables then promote tensors that hurt most
when squeezed (output, attn_v, ffn_down, attn_output) by position and model shape. Each table is read
top to bottom and the first row whose file type and condition match wins, exactly like the if/else
chains in llama.cpp's ``llama_tensor_get_type_impl``. Only rows that can fire for the file types in
``engine.quant.ftypes`` are written down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType, layout_of
from engine.quant.ftypes import FILE_TYPES, FileType
from engine.quant.rules import (
    Category, ModelFacts, TensorSpec, category_of, fallback_type, is_quantizable, layer_of, tensor_order_key,
    use_more_bits,
)

__all__ = ["TypeDecision", "decide_types"]

T = GGMLType


@dataclass(frozen=True, slots=True)
class Where:
    """What a promotion's condition may look at.

    Attributes:
        i: Position: the V-like tensor counter for attn_v rows, the layer index for ffn_down rows.
        n: The matching total: number of V-like tensors, or number of layers.
        facts: Model hyper-parameters.
        has_imatrix: Whether an importance matrix was supplied.
    """

    i: int
    n: int
    facts: ModelFacts
    has_imatrix: bool


Condition = Callable[[Where], bool]


def _always(w: Where) -> bool:
    return True


def _gqa4(w: Where) -> bool:
    return w.facts.n_gqa >= 4


def _first(count: int) -> Condition:
    return lambda w: w.i < count


def _more_bits(w: Where) -> bool:
    return use_more_bits(w.i, w.n)


def _first_eighth(w: Where) -> bool:
    return w.i < w.n // 8


def _first_sixteenth(w: Where) -> bool:
    return w.i < w.n // 16


def _falcon(w: Where) -> bool:
    return w.facts.arch == "falcon"


def _eight_experts(w: Where) -> bool:
    return w.facts.n_expert == 8


def _imatrix(w: Where) -> bool:
    return w.has_imatrix


def _all(*conds: Condition) -> Condition:
    return lambda w: all(c(w) for c in conds)


def _not(cond: Condition) -> Condition:
    return lambda w: not cond(w)


def _any(*conds: Condition) -> Condition:
    return lambda w: any(c(w) for c in conds)


@dataclass(frozen=True, slots=True)
class Promotion:
    """One table row: for these file types, when the condition holds, use ``to``."""

    ftypes: frozenset[str]
    to: GGMLType
    when: Condition = _always


def _p(names: str, to: GGMLType, when: Condition = _always) -> Promotion:
    return Promotion(frozenset(names.split()), to, when)


_ALL = " ".join(ft.name for ft in FILE_TYPES if ft.is_quantized)

# attn_v, and also attn_qkv / attn_kv_b: llama.cpp tests "is V-like" before its separate QKV branch,
# so that branch never fires. i/n = V-like counter / count.
V_RULES: tuple[Promotion, ...] = (
    _p("Q2_K", T.Q4_K, _gqa4),
    _p("Q2_K", T.Q3_K),
    _p("Q3_K_M", T.Q5_K, _first(2)),
    _p("Q3_K_M", T.Q4_K),
    _p("Q3_K_L", T.Q5_K),
    _p("IQ4_NL IQ4_XS", T.Q5_K, _gqa4),
    _p("Q4_K_M Q5_K_M", T.Q6_K, _more_bits),
    _p("Q4_K_S", T.Q5_K, _first(4)),
)
# Applied after V_RULES, each on the result of the previous one: (condition on (where, type), new type).
V_ADJUSTMENTS: tuple[tuple[Callable[[Where, GGMLType], bool], GGMLType], ...] = (
    (lambda w, t: w.facts.is_70b and t in (T.Q3_K, T.Q4_K), T.Q5_K),  # 8 heads share one attn_v
    (lambda w, t: w.facts.n_expert == 8, T.Q8_0),
)
K_RULES: tuple[Promotion, ...] = (
    _p(_ALL, T.Q8_0, _eight_experts),
)
# i/n = layer index / number of layers.
DOWN_RULES: tuple[Promotion, ...] = (
    _p("Q2_K", T.Q3_K),
    _p("Q3_K_M", T.Q5_K, _first_sixteenth),
    _p("Q3_K_M", T.Q4_K, _any(_not(_falcon), _more_bits)),
    _p("Q3_K_M", T.Q3_K),
    _p("Q3_K_L", T.Q4_K, _falcon),
    _p("Q3_K_L", T.Q5_K),
    _p("Q4_K_M", T.Q6_K, _all(_falcon, _first_sixteenth)),
    _p("Q4_K_M", T.Q5_K, _all(_falcon, _more_bits)),
    _p("Q4_K_M", T.Q4_K, _falcon),
    _p("Q4_K_M", T.Q6_K, _more_bits),
    _p("IQ4_NL IQ4_XS", T.Q5_K, _all(_first_eighth, _not(_imatrix))),
    _p("Q5_K_M", T.Q6_K, _more_bits),
    _p("Q4_K_S", T.Q5_K, _all(_not(_falcon), _first_eighth)),
    _p("Q4_0", T.Q4_1, _all(_imatrix, _first_eighth)),
    _p("Q5_0", T.Q5_1, _all(_imatrix, _first_eighth)),
)
_DENSE_NOT_FALCON = _all(_not(_falcon), _not(_eight_experts))
ATTN_OUTPUT_RULES: tuple[Promotion, ...] = (
    _p("Q2_K Q3_K_S Q3_K_M IQ4_NL Q4_K_S Q4_K_M IQ4_XS", T.Q5_K, _all(_not(_falcon), _eight_experts)),
    _p("Q2_K", T.Q3_K, _DENSE_NOT_FALCON),
    _p("Q3_K_M", T.Q4_K, _DENSE_NOT_FALCON),
    _p("Q3_K_L", T.Q5_K, _DENSE_NOT_FALCON),
    _p("Q3_K_L", T.Q4_K, _falcon),
)
_TABLES: dict[Category, tuple[Promotion, ...]] = {
    Category.ATTN_K: K_RULES,
    Category.ATTN_OUTPUT: ATTN_OUTPUT_RULES,
}


def promote(rules: Sequence[Promotion], ftype: FileType, base: GGMLType, where: Where) -> GGMLType:
    """The first matching row's type, or ``base`` when no row matches."""
    for rule in rules:
        if ftype.name in rule.ftypes and rule.when(where):
            return rule.to
    return base


def output_type(base: GGMLType, row_length: int, facts: ModelFacts) -> GGMLType:
    """output.weight (and a tied token_embd): Q6_K, or Q8_0 for Falcon, Q8_0 files and odd row lengths."""
    if facts.arch == "falcon" or row_length % layout_of(base).block_size:
        return T.Q8_0
    return base if base == T.Q8_0 else T.Q6_K


@dataclass(frozen=True, slots=True)
class TypeDecision:
    """The type llama-quantize gives one tensor.

    Attributes:
        target: The tensor's type in the output file.
        eligible: False when llama-quantize never changes this tensor (norms, 1-D, routers ...).
        fell_back: True when the rules' choice did not fit the row length and a substitute was used.
    """

    target: GGMLType
    eligible: bool
    fell_back: bool = False


class _Mixer:
    """Walks tensors in llama-quantize's order, carrying its attn_v and ffn_down counters."""

    def __init__(self, specs: Sequence[TensorSpec], ftype: FileType, facts: ModelFacts, has_imatrix: bool) -> None:
        self.ftype, self.facts, self.has_imatrix = ftype, facts, has_imatrix
        self.tied = all(s.name != "output.weight" for s in specs)
        self.n_v = sum(category_of(s.name).is_v_like for s in specs)
        self.i_v = 0
        self.i_down = 0

    def rules_type(self, spec: TensorSpec) -> GGMLType:
        """The mix rules' choice before the block-size fallback."""
        base, category = self.ftype.base, category_of(spec.name)
        if category is Category.OUTPUT or (self.tied and category is Category.TOKEN_EMBD):
            return output_type(base, spec.shape[0], self.facts)
        if category.is_v_like:
            where = self._where(self.i_v, self.n_v)
            new = promote(V_RULES, self.ftype, base, where)
            for applies, to in V_ADJUSTMENTS:
                new = to if applies(where, new) else new
            self.i_v += 1
            return new
        if category is Category.FFN_DOWN:
            new = promote(DOWN_RULES, self.ftype, base, self._where(self._down_layer(spec.name), self.facts.n_layer))
            self.i_down += 1
            return new
        if category in _TABLES:
            return promote(_TABLES[category], self.ftype, base, self._where(0, 0))
        return base

    def _where(self, i: int, n: int) -> Where:
        return Where(i, n, self.facts, self.has_imatrix)

    def _down_layer(self, name: str) -> int:
        """Dense models count ffn_down tensors; MoE models read the layer from the name."""
        if self.facts.n_expert <= 1:
            return self.i_down
        layer = layer_of(name)
        if layer is None or not 0 <= layer < self.facts.n_layer:
            raise UsageError(
                f"Cannot tell which layer tensor {name} belongs to (the model has {self.facts.n_layer} layers).",
                "The model's tensor names or block count are inconsistent.",
            )
        return layer


def decide_types(
    specs: Sequence[TensorSpec], ftype: FileType, facts: ModelFacts, *,
    pure: bool = False, has_imatrix: bool = False, leave_output: bool = False,
) -> tuple[TypeDecision, ...]:
    """Every tensor's output type under ``ftype``, in the order of ``specs``.

    Tensors are visited in llama-quantize's order (layer, then name), which the position counters need.

    Args:
        specs: All tensors of the model (the counters and "tied embeddings" look at the whole list).
        ftype: The file type.
        facts: Model hyper-parameters.
        pure: llama-quantize ``--pure``: every eligible tensor gets the base type (fallback still applies).
        has_imatrix: Whether an importance matrix will be used (changes a few ffn_down rows).
        leave_output: llama-quantize ``--leave-output-tensor``.

    Raises:
        UsageError: a row length no type can hold, or an MoE tensor without a valid layer number.
    """
    mixer = _Mixer(specs, ftype, facts, has_imatrix)
    decisions: list[TypeDecision | None] = [None] * len(specs)
    for k in sorted(range(len(specs)), key=lambda j: tensor_order_key(specs[j].name)):
        spec = specs[k]
        if not is_quantizable(spec.name, spec.shape, leave_output=leave_output):
            decisions[k] = TypeDecision(spec.source, eligible=False)
        elif not ftype.is_quantized:
            decisions[k] = TypeDecision(ftype.base, eligible=True)
        else:
            chosen = ftype.base if pure else mixer.rules_type(spec)
            final = fallback_type(chosen, spec.shape[0])
            decisions[k] = TypeDecision(final, eligible=True, fell_back=final != chosen)
    return tuple(d for d in decisions if d is not None)
