"""Hugging Face checkpoints -> GGUF: tensor names, per-architecture edits, metadata and tokenizers."""

from engine.convert.hf.archs import ARCHITECTURES
from engine.convert.hf.hf_source import open_hf_source

__all__ = ["ARCHITECTURES", "open_hf_source"]
