"""What the memory model needs to know about a model, from a GGUF header, a config.json or a catalog entry.

Names follow llama.cpp's hparams (``n_layer``, ``n_embd``, ``n_head_kv``, ``n_swa`` ...). ``tensors`` lists
every GGUF tensor (name, shape, type) so weights can be sized exactly; for a model that exists only as a
config.json, ``engine.recommend.tensor_shapes`` generates the list the converter would write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine.errors import CorruptInputError, UnsupportedArchitectureError
from engine.quant.ftypes import FileType, file_type_from_number
from engine.quant.rules import ModelFacts, TensorSpec

# llama.cpp's default sliding-window layer pattern per architecture (every n-th layer attends fully);
# 0 means the architecture runs sliding-window configs with full attention (Phi-3, Qwen2).
SWA_PATTERN: dict[str, int] = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "gpt-oss": 2}
SWA_DEFAULT_WINDOW: dict[str, int] = {"gemma2": 4096}


def swa_layers(n_layer: int, n_swa: int, pattern: int | Sequence[bool]) -> tuple[bool, ...]:
    """Which layers use the sliding window, as ``llama_hparams::set_swa_pattern`` decides it."""
    if not n_swa:
        return (False,) * n_layer
    if not isinstance(pattern, int):
        flags = tuple(bool(x) for x in pattern)
        return (flags + (False,) * n_layer)[:n_layer]
    if pattern <= 0:
        return (False,) * n_layer
    return tuple(il % pattern < pattern - 1 for il in range(n_layer))


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """A decoder-only transformer as llama.cpp sees it.

    Attributes:
        name: display name.
        arch: GGUF architecture name (``llama``, ``qwen2``, ``gemma3`` ...).
        n_layer: transformer blocks.
        n_embd: hidden size.
        n_head: query heads.
        n_head_kv: key/value heads.
        head_dim_k: K head size (``attention.key_length``).
        head_dim_v: V head size.
        n_ff: dense FFN hidden size (0 for all-MoE models).
        n_vocab: vocabulary size (rows of the output matrix).
        n_ctx_train: trained context length.
        n_swa: sliding-window length, 0 when every layer attends to the whole context.
        swa_layers: per layer, True when it uses the sliding window.
        n_expert: experts per MoE layer, 0 for dense models.
        n_expert_used: experts each token is routed to.
        n_ff_exp: hidden size of one expert.
        tied_embeddings: the output matrix is the token embedding (llama.cpp duplicates it on the output device).
        tensors: every GGUF tensor with its type; empty when unknown.
        file_type: the GGUF's own file type when the source is a GGUF, else None.
        source: "gguf", "hf" or "catalog".
    """

    name: str
    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_ff: int
    n_vocab: int
    n_ctx_train: int
    n_swa: int = 0
    swa_layers: tuple[bool, ...] = ()
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    tied_embeddings: bool = False
    tensors: tuple[TensorSpec, ...] = field(default=(), repr=False)
    file_type: FileType | None = None
    source: str = "gguf"

    def __post_init__(self) -> None:
        if not self.swa_layers:
            object.__setattr__(self, "swa_layers", (False,) * self.n_layer)

    @property
    def n_embd_k_gqa(self) -> int:
        """K cache row width per token and layer."""
        return self.head_dim_k * self.n_head_kv

    @property
    def n_embd_v_gqa(self) -> int:
        """V cache row width per token and layer."""
        return self.head_dim_v * self.n_head_kv

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 0

    @property
    def n_params(self) -> int:
        """Weights in all tensors (0 when the tensor list is unknown)."""
        total = 0
        for t in self.tensors:
            n = 1
            for d in t.shape:
                n *= d
            total += n
        return total

    def facts(self) -> ModelFacts:
        """The hyper-parameters llama-quantize's type rules read."""
        return ModelFacts(self.arch, self.n_layer, self.n_head, self.n_head_kv, self.n_expert)

    def with_tensors(self, tensors: Sequence[TensorSpec]) -> ModelDescription:
        return replace(self, tensors=tuple(tensors))


def _first(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return int(max(value)) if value else None
    return int(value)


def from_gguf_metadata(
    metadata: Mapping[str, Any], tensors: Sequence[TensorSpec], *, name: str | None = None
) -> ModelDescription:
    """Describe a model from GGUF key/values and tensor infos.

    Raises:
        CorruptInputError: a required key (architecture, block count, embedding length, heads) is missing.
    """
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise CorruptInputError("The GGUF metadata does not name the model architecture.")

    def key(suffix: str) -> int | None:
        return _first(metadata.get(f"{arch}.{suffix}"))

    n_layer, n_embd, n_head = key("block_count"), key("embedding_length"), key("attention.head_count")
    if n_layer is None or n_embd is None or not n_head:
        raise CorruptInputError(f"The GGUF metadata lacks {arch}.block_count, embedding_length or head_count.")
    by_name = {t.name: t for t in tensors}
    n_vocab = _vocab_size(metadata, arch, by_name)
    head_k = key("attention.key_length") or n_embd // n_head
    n_swa = key("attention.sliding_window") or SWA_DEFAULT_WINDOW.get(arch, 0)
    pattern_raw = metadata.get(f"{arch}.attention.sliding_window_pattern")
    pattern: int | Sequence[bool] = SWA_PATTERN.get(arch, 0) if pattern_raw is None else (
        pattern_raw if isinstance(pattern_raw, (list, tuple)) else int(pattern_raw))
    if arch not in SWA_PATTERN:
        n_swa = 0  # llama.cpp ignores the window for these architectures (Phi-3 says so in its log)
    ftype_num = metadata.get("general.file_type")
    return ModelDescription(
        name=name or str(metadata.get("general.name") or arch),
        arch=arch,
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=key("attention.head_count_kv") or n_head,
        head_dim_k=head_k,
        head_dim_v=key("attention.value_length") or head_k,
        n_ff=key("feed_forward_length") or 0,
        n_vocab=n_vocab,
        n_ctx_train=key("context_length") or 0,
        n_swa=n_swa,
        swa_layers=swa_layers(n_layer, n_swa, pattern),
        n_expert=key("expert_count") or 0,
        n_expert_used=key("expert_used_count") or 0,
        n_ff_exp=key("expert_feed_forward_length") or 0,
        tied_embeddings="output.weight" not in by_name,
        tensors=tuple(tensors),
        file_type=_file_type(ftype_num),
        source="gguf",
    )


def _file_type(number: Any) -> FileType | None:
    if number is None:
        return None
    try:
        return file_type_from_number(int(number))
    except Exception:  # noqa: BLE001 - a file type we do not write (IQ2_XXS ...) is still a usable GGUF
        return None


def _vocab_size(metadata: Mapping[str, Any], arch: str, by_name: Mapping[str, TensorSpec]) -> int:
    tokens = metadata.get("tokenizer.ggml.tokens")
    if isinstance(tokens, (list, tuple)) and tokens:
        return len(tokens)
    embd = by_name.get("token_embd.weight")
    if embd is not None and len(embd.shape) >= 2:
        return int(embd.shape[1])
    vocab = _first(metadata.get(f"{arch}.vocab_size"))
    if vocab:
        return vocab
    raise CorruptInputError("The GGUF has neither a token list nor a token_embd tensor to size the vocabulary.")


# Hugging Face model_type -> GGUF architecture, for the families Quantpick can size from config.json.
HF_ARCH: dict[str, str] = {
    "llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe", "gemma2": "gemma2", "gemma3": "gemma3", "gemma3_text": "gemma3", "phi3": "phi3",
    "smollm3": "smollm3", "granite": "granite",
}
_HF_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma2": {"tie_word_embeddings": True, "sliding_window": 4096},
    "gemma3_text": {"tie_word_embeddings": True, "sliding_window": 4096, "vocab_size": 262208,
                    "head_dim": 256, "max_position_embeddings": 131072},
}


def _text_config(config: Mapping[str, Any]) -> dict[str, Any]:
    nested = config.get("text_config")
    if isinstance(nested, Mapping):
        text = dict(nested)
        text.setdefault("model_type", "gemma3_text" if config.get("model_type") == "gemma3" else "")
        text.setdefault("tie_word_embeddings", config.get("tie_word_embeddings", True))
    else:
        text = dict(config)
    return {**_HF_DEFAULTS.get(str(text.get("model_type", "")), {}), **text}


def from_hf_config(config: Mapping[str, Any], *, name: str = "model") -> ModelDescription:
    """Describe a model from its ``config.json`` (no tensors yet; see ``tensor_shapes.with_gguf_tensors``).

    Raises:
        UnsupportedArchitectureError: a model type Quantpick cannot size.
        CorruptInputError: the config lacks a required dimension.
    """
    text = _text_config(config)
    model_type = str(text.get("model_type", ""))
    arch = HF_ARCH.get(model_type)
    if arch is None:
        raise UnsupportedArchitectureError(
            f"Quantpick cannot size models of type {model_type or 'unknown'!r} from config.json.",
            "Supported: " + ", ".join(sorted(HF_ARCH)) + ". A ready-made GGUF of the model can be sized directly.",
        )
    try:
        return _from_text(text, arch, name)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        raise CorruptInputError(f"config.json lacks a dimension Quantpick needs ({e}).") from e


def _from_text(text: Mapping[str, Any], arch: str, name: str) -> ModelDescription:
    n_layer = int(text["num_hidden_layers"])
    n_embd = int(text["hidden_size"])
    n_head = int(text["num_attention_heads"])
    head_dim = int(text.get("head_dim") or n_embd // n_head)
    n_expert = next((int(text[k]) for k in ("num_local_experts", "num_experts") if text.get(k)), 0)
    n_swa = int(text.get("sliding_window") or 0) if arch in SWA_PATTERN else 0
    layer_types = text.get("layer_types")
    pattern: int | Sequence[bool] = SWA_PATTERN.get(arch, 0)
    if isinstance(layer_types, list) and layer_types:
        pattern = [t == "sliding_attention" for t in layer_types]
    elif text.get("sliding_window_pattern"):
        pattern = int(text["sliding_window_pattern"])
    n_ff = int(text.get("intermediate_size") or 0)
    return ModelDescription(
        name=name, arch=arch, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
        n_head_kv=int(text.get("num_key_value_heads") or n_head),
        head_dim_k=head_dim, head_dim_v=head_dim, n_ff=n_ff,
        n_vocab=int(text["vocab_size"]), n_ctx_train=int(text.get("max_position_embeddings") or 0),
        n_swa=n_swa, swa_layers=swa_layers(n_layer, n_swa, pattern),
        n_expert=n_expert,
        n_expert_used=int(text.get("num_experts_per_tok") or 0) if n_expert else 0,
        n_ff_exp=int(text.get("moe_intermediate_size") or n_ff) if n_expert else 0,
        tied_embeddings=bool(text.get("tie_word_embeddings", False)),
        source="hf",
    )


def from_catalog_dims(dims: Mapping[str, Any], *, arch: str, name: str) -> ModelDescription:
    """Describe a model from a catalog entry's ``dims`` object (resources/catalog.json).

    Raises:
        CorruptInputError: a required dimension is missing.
    """
    try:
        n_layer = int(dims["n_layer"])
        n_swa = int(dims.get("n_swa") or 0)
        return ModelDescription(
            name=name, arch=arch, n_layer=n_layer, n_embd=int(dims["n_embd"]), n_head=int(dims["n_head"]),
            n_head_kv=int(dims["n_head_kv"]), head_dim_k=int(dims["head_dim"]), head_dim_v=int(dims["head_dim"]),
            n_ff=int(dims["n_ff"]), n_vocab=int(dims["n_vocab"]), n_ctx_train=int(dims["n_ctx_train"]),
            n_swa=n_swa,
            swa_layers=swa_layers(n_layer, n_swa, int(dims.get("swa_pattern") or SWA_PATTERN.get(arch, 0))),
            n_expert=int(dims.get("n_expert") or 0), n_expert_used=int(dims.get("n_expert_used") or 0),
            n_ff_exp=int(dims.get("n_ff_exp") or 0), tied_embeddings=bool(dims.get("tied_embeddings", False)),
            source="catalog",
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptInputError(f"The catalog entry for {name} lacks a dimension ({e}).") from e
