"""Write the full-size, header-only GGUFs the CUDA validation runs on (gpu_validation.sh calls this there).

Usage: python tests/unit/engine/recommend/data/make_gpu_models.py FOLDER  (from the repository root)

The files are sparse: a real header, then a hole as long as the tensor data. llama.cpp's dry run never reads
the data, and llama-bench reads zeros, which cost the same bandwidth as real weights. The tokenizer is a
synthetic SentencePiece vocabulary of the model's real size (byte tokens, which llama.cpp requires, then
filler pieces), so the device machine needs no real model file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gguf import GGUFValueType as VT

sys.path.insert(0, str(Path(__file__).parent))
import make_reference as ref  # noqa: E402  (a sibling script, not a package)

from engine.formats.gguf_write import MetaValue  # noqa: E402


def synthetic_spm_vocab(n_vocab: int) -> list[tuple[str, MetaValue]]:
    """A SentencePiece tokenizer block with ``n_vocab`` tokens: <unk>, <s>, </s>, 256 byte tokens, filler."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
    types += [1] * (n_vocab - len(types))
    scores = [0.0] * 259 + [-float(i) for i in range(n_vocab - 259)]
    return [
        ("tokenizer.ggml.model", MetaValue(VT.STRING, "llama")),
        ("tokenizer.ggml.tokens", MetaValue(VT.ARRAY, tokens, VT.STRING)),
        ("tokenizer.ggml.scores", MetaValue(VT.ARRAY, scores, VT.FLOAT32)),
        ("tokenizer.ggml.token_type", MetaValue(VT.ARRAY, types, VT.INT32)),
        ("tokenizer.ggml.bos_token_id", MetaValue(VT.UINT32, 1)),
        ("tokenizer.ggml.eos_token_id", MetaValue(VT.UINT32, 2)),
        ("tokenizer.ggml.unknown_token_id", MetaValue(VT.UINT32, 0)),
    ]


def _tokenizer(src: str) -> list[tuple[str, MetaValue]]:
    return synthetic_spm_vocab(int(src.split(":", 1)[1]))


def make_models(folder: Path) -> dict[str, Path]:
    """SmolLM2-135M (Q8_0, tied), Llama-3-8B (Q4_K) and Qwen3-30B-A3B (Q4_K, 128 experts) at full depth."""
    ref.tokenizer = _tokenizer  # every header gets a synthetic vocabulary of its own size
    folder.mkdir(parents=True, exist_ok=True)
    out = {
        "smol": ref.llama_like(str(folder / "smol.gguf"), n_layer=30, n_embd=576, n_ff=1536, n_head=9, n_head_kv=3,
                               vocab=49152, wtype="Q8_0", tied=True, tok_src="synthetic:49152"),
        "l8b": ref.llama_like(str(folder / "l8b.gguf"), n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8,
                              vocab=128256, wtype="Q4_K", tok_src="synthetic:128256"),
    }
    ref_write = ref.write

    def write_synthetic(path: str, arch: str, meta: dict, tensors: list, tok_src: str = "", ftype=None) -> str:
        return ref_write(path, arch, meta, tensors, tok_src="synthetic:151936", ftype=ftype)

    ref.write = write_synthetic
    try:
        out["moe"] = ref.qwen3moe(str(folder / "moe.gguf"), n_layer=48, n_embd=2048, n_head=32, n_head_kv=4,
                                  head_dim=128, n_expert=128, n_used=8, n_ff_exp=768, vocab=151936)
    finally:
        ref.write = ref_write
    return {name: Path(path) for name, path in out.items()}


if __name__ == "__main__":
    for name, path in make_models(Path(sys.argv[1])).items():
        print(name, path, path.stat().st_size)
