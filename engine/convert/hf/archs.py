"""The Hugging Face architectures Quantpick converts, and what llama.cpp's converter does for each.

One row per ``architectures[0]`` class name. ``family`` picks the metadata writer and the tokenizer
export; the flags name the tensor edits the converter applies for that model class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import UnsupportedArchitectureError


@dataclass(frozen=True, slots=True)
class ArchSpec:
    """How one Hugging Face model class becomes GGUF.

    Attributes:
        hf_arch: The ``architectures[0]`` name in ``config.json``.
        gguf_arch: ``general.architecture`` of the output.
        family: Converter class: ``llama``, ``qwen2``, ``qwen3``, ``gemma2``, ``gemma3`` or ``phi3``.
        config_class: Default-values table of the transformers config class (see ``hparams``).
        permute_qk: Reorder q/k projection rows from HF's rotary layout to llama.cpp's.
        norm_shift: Add 1 to every ``*norm.weight`` (Gemma stores norm weights minus one).
        drop_lm_head: Leave ``lm_head.weight`` out (Gemma 2 always ties it to the embeddings).
        truncate_embed: Cut the embedding rows down to the tokenizer's real vocabulary (Gemma 3).
    """

    hf_arch: str
    gguf_arch: str
    family: str
    config_class: str
    permute_qk: bool = False
    norm_shift: bool = False
    drop_lm_head: bool = False
    truncate_embed: bool = False


_SPECS = (
    ArchSpec("LlamaForCausalLM", "llama", "llama", "llama", permute_qk=True),
    ArchSpec("MistralForCausalLM", "llama", "llama", "mistral", permute_qk=True),
    ArchSpec("Qwen2ForCausalLM", "qwen2", "qwen2", "qwen2"),
    ArchSpec("Qwen3ForCausalLM", "qwen3", "qwen3", "qwen3"),
    ArchSpec("Gemma2ForCausalLM", "gemma2", "gemma2", "gemma2", norm_shift=True, drop_lm_head=True),
    ArchSpec("Gemma3ForCausalLM", "gemma3", "gemma3", "gemma3", norm_shift=True, truncate_embed=True),
    ArchSpec("Gemma3ForConditionalGeneration", "gemma3", "gemma3", "gemma3", norm_shift=True, truncate_embed=True),
    ArchSpec("Phi3ForCausalLM", "phi3", "phi3", "phi3"),
)
ARCHITECTURES: Mapping[str, ArchSpec] = {spec.hf_arch: spec for spec in _SPECS}

# config.json "model_type" -> config class, where it names one (it decides the defaults, as in AutoConfig).
_MODEL_TYPES = {
    "llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3", "gemma2": "gemma2",
    "gemma3": "gemma3", "gemma3_text": "gemma3", "phi3": "phi3",
}


def supported_list() -> str:
    """The supported class names, for messages."""
    return ", ".join(ARCHITECTURES)


def arch_of(config: Mapping[str, Any]) -> str | None:
    """The model class llama.cpp keys on: ``architectures[0]``, or the text part's for multimodal configs."""
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    text = config.get("text_config")
    if isinstance(text, dict):
        text_archs = text.get("architectures")
        if isinstance(text_archs, list) and text_archs and isinstance(text_archs[0], str):
            arch = text_archs[0]
    return arch


def spec_for(config: Mapping[str, Any]) -> tuple[ArchSpec, str]:
    """The row for this config and the transformers config class whose defaults apply.

    Raises:
        UnsupportedArchitectureError: the model class is missing or not one Quantpick converts.
    """
    arch = arch_of(config)
    if arch is None:
        raise UnsupportedArchitectureError(
            "config.json does not name the model's architecture (no \"architectures\" list).",
            f"Quantpick converts these Hugging Face architectures: {supported_list()}.",
        )
    spec = ARCHITECTURES.get(arch)
    if spec is None:
        raise UnsupportedArchitectureError(
            f"Quantpick cannot convert {arch} models.",
            f"Supported architectures: {supported_list()}. Look for a ready-made GGUF of this model.",
        )
    model_type = config.get("model_type")
    config_class = _MODEL_TYPES.get(model_type, spec.config_class) if isinstance(model_type, str) else None
    return spec, config_class or spec.config_class
