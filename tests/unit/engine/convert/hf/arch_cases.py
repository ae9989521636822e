"""Tiny checkpoints of every supported architecture, with the reference files llama.cpp's converter made.

Each case's ``config.json`` and ``model.safetensors`` are committed under ``tests/data/golden/convert-archs/
<case>/`` (random numbers are not regenerated, so numpy versions cannot change them); the tokenizer files are
copied in from the golden tiny llamas when a test runs. ``<case>.gguf`` next to them is what
``convert_hf_to_gguf.py --outtype <outtype>`` (llama.cpp 0c1e570, transformers 5.23, torch 2.14) wrote.
``make_references.py`` rebuilds all of it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import GOLDEN
from tests.unit.engine.convert.hf.checkpoints import BPE_DIR, BPE_VOCAB, SPM_DIR, SPM_VOCAB, base_config

ARCHS_DIR = GOLDEN / "convert-archs"
SPM_FILES = ("tokenizer.model", "tokenizer_config.json")
BPE_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


@dataclass(frozen=True)
class ArchCase:
    """One tiny checkpoint: its config, how its weights are laid out, and the converter's output type."""

    name: str
    config: dict[str, Any]
    family: str
    tokenizer: str
    outtype: str = "bf16"
    dtype: str = "BF16"
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> Path:
        return ARCHS_DIR / f"{self.name}.gguf"

    def folder(self, tmp: Path) -> Path:
        """A complete model folder in ``tmp``: committed weights and config plus the tokenizer files."""
        target = tmp / self.name
        shutil.copytree(ARCHS_DIR / self.name, target)
        source, names = (SPM_DIR, SPM_FILES) if self.tokenizer == "spm" else (BPE_DIR, BPE_FILES)
        for name in names:
            if not (target / name).exists():  # a case may bring its own tokenizer_config.json
                shutil.copy(source / name, target / name)
        return target


def _bpe(arch: str, model_type: str, **extra: Any) -> dict[str, Any]:
    return base_config(arch, model_type, BPE_VOCAB, hidden_size=16, intermediate_size=32, num_attention_heads=2,
                       num_key_value_heads=1, tie_word_embeddings=True, **extra)


_LLAMA3_ROPE = {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                "original_max_position_embeddings": 8192, "rope_type": "llama3"}
_PHI3_ROPE = {"type": "longrope", "long_factor": [1.0 + i / 4 for i in range(8)], "short_factor": [1.0] * 8}
_YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024}
_CARD = """---
license: apache-2.0
language:
- en
- fr
tags:
- text-generation
base_model: someone/Base-Model-7B
datasets:
- some/dataset
---
# Tiny Card Model
"""
_GENERATION = '{"temperature": 0.7, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1, "do_sample": true}'
_LLAMA_TOKENIZER_CONFIG = """{
 "add_bos_token": true, "add_eos_token": false, "add_prefix_space": false,
 "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>",
 "chat_template": "{% for m in messages %}[{{ m['content'] }}]{% endfor %}",
 "added_tokens_decoder": {
  "0": {"content": "<unk>", "special": true}, "1": {"content": "<s>", "special": true},
  "2": {"content": "</s>", "special": true}, "500": {"content": "<|user|>", "special": false},
  "501": {"content": "\u2581hello\u2581world", "special": false}, "502": {"content": "<unused7>", "special": false},
  "503": {"content": "<tool>", "special": true}}
}"""
_PHI3_TOKENIZER_CONFIG = """{
 "add_bos_token": false, "bos_token": "<s>", "eos_token": "<|endoftext|>", "tokenizer_class": "LlamaTokenizer",
 "added_tokens_decoder": {"505": {"content": "<|endoftext|>", "special": true},
                          "506": {"content": "<|assistant|>", "special": false}}
}"""
_SPM_TOKENIZER_JSON = """{
 "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
                  {"id": 2, "content": "</s>", "special": true}],
 "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Lowercase"}]},
 "post_processor": {"type": "TemplateProcessing",
   "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
   "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}]},
 "model": {"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []},
 "decoder": {"type": "Sequence", "decoders": []}
}"""
_GEMMA3_TEXT = {**base_config("Gemma3ForCausalLM", "gemma3_text", SPM_VOCAB, head_dim=16, sliding_window=512),
                "architectures": None}

CASES = (
    ArchCase("mistral", base_config("MistralForCausalLM", "mistral", SPM_VOCAB, sliding_window=None), "llama", "spm"),
    ArchCase("mistral-f32", base_config("MistralForCausalLM", "mistral", SPM_VOCAB), "llama", "spm",
             outtype="auto", dtype="F32"),
    ArchCase("llama3-rope", _bpe("LlamaForCausalLM", "llama", rope_theta=500000.0, rope_scaling=_LLAMA3_ROPE,
                                 head_dim=8), "llama", "bpe", build={"lm_head": False}),
    # SentencePiece here: transformers gives model_type qwen2 its own Qwen pre-tokenizer, which the SmolLM2
    # tokenizer.json would not match (llama.cpp's converter then stops on an unknown hash).
    ArchCase("qwen2", base_config("Qwen2ForCausalLM", "qwen2", SPM_VOCAB, rope_theta=1000000.0,
                                  tie_word_embeddings=True, rope_scaling=_YARN), "qwen2", "spm",
             build={"lm_head": False}),
    ArchCase("qwen3", _bpe("Qwen3ForCausalLM", "qwen3", head_dim=8), "qwen3", "bpe", build={"lm_head": False}),
    ArchCase("gemma2", base_config("Gemma2ForCausalLM", "gemma2", SPM_VOCAB, head_dim=16, sliding_window=512,
                                   query_pre_attn_scalar=16), "gemma2", "spm"),
    ArchCase("gemma2-f16", base_config("Gemma2ForCausalLM", "gemma2", SPM_VOCAB, head_dim=16), "gemma2", "spm",
             outtype="auto", dtype="F16", build={"norm_scale": 0.01}),
    ArchCase("gemma3", base_config("Gemma3ForCausalLM", "gemma3_text", SPM_VOCAB, head_dim=16, sliding_window=512,
                                   rope_scaling={"rope_type": "linear", "factor": 8.0}, final_logit_softcapping=30.0),
             "gemma3", "spm", build={"embed_rows": 520, "lm_head": False}),
    ArchCase("gemma3-mm", {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                           "text_config": _GEMMA3_TEXT}, "gemma3", "spm",
             build={"lm_head": False, "prefix": "language_model.", "vision": True}),
    ArchCase("phi3", base_config("Phi3ForCausalLM", "phi3", SPM_VOCAB, max_position_embeddings=131072,
                                 original_max_position_embeddings=4096, sliding_window=262144,
                                 rope_scaling=_PHI3_ROPE), "phi3", "spm", outtype="f16"),
)
CASES += (
    ArchCase("llama-sharded", base_config("LlamaForCausalLM", "llama", SPM_VOCAB, num_hidden_layers=3,
                                          pad_token_id=0), "llama", "spm", outtype="auto", dtype="F16",
             build={"shards": 2, "files": {"README.md": _CARD, "generation_config.json": _GENERATION,
                                           "tokenizer_config.json": _LLAMA_TOKENIZER_CONFIG}}),
    ArchCase("phi3-added", base_config("Phi3ForCausalLM", "phi3", SPM_VOCAB, partial_rotary_factor=0.5,
                                       sliding_window=None, rope_scaling=None), "phi3", "spm",
             build={"files": {"tokenizer_config.json": _PHI3_TOKENIZER_CONFIG}}),
    ArchCase("gemma2-added", base_config("Gemma2ForCausalLM", "gemma2", SPM_VOCAB, head_dim=16), "gemma2", "spm",
             build={"files": {"tokenizer_config.json": _LLAMA_TOKENIZER_CONFIG}}),
    ArchCase("llama-spm-json", base_config("LlamaForCausalLM", "llama", SPM_VOCAB), "llama", "spm",
             build={"files": {"tokenizer.json": _SPM_TOKENIZER_JSON}}),
)
BY_NAME = {case.name: case for case in CASES}
