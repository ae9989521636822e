"""Hugging Face checkpoints -> GGUF: tensor names, per-architecture edits, metadata and tokenizers."""
