"""The repos the fake Hub serves: a GGUF repo, safetensors repos, a gated repo and search filler.

Shapes copy real Hub answers (bartowski-style GGUF naming with a split quant in a folder, an mmproj and
an imatrix file; cardData with base_model and license; the ``gguf`` and ``safetensors`` info blocks).
"""

from __future__ import annotations

import json

from tests.unit.engine.hub.fake_hub import FakeHub, FakeRepo, blob, safetensors_bytes

KIB = 1024
GGUF_REPO = "bartowski/Tiny-Llama-GGUF"
ST_REPO = "acme/tiny-llama"
ST_NOMETA_REPO = "acme/tiny-llama-nometa"
GATED_REPO = "meta-llama/Llama-3.2-1B-Instruct"

TINY_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256,
    "max_position_embeddings": 2048, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
LLAMA_32_1B_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
    "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": True,
    "rope_theta": 500000.0, "torch_dtype": "bfloat16",
}
TINY_TENSORS = {
    "model.embed_tokens.weight": ("BF16", [256, 64]),
    "model.layers.0.self_attn.q_proj.weight": ("BF16", [64, 64]),
    "model.norm.weight": ("F32", [64]),
}
TINY_PARAMS = {"BF16": 256 * 64 + 64 * 64, "F32": 64}

GGUF_FILES = {
    "Tiny-Llama-IQ2_XXS.gguf": 96 * KIB,
    "Tiny-Llama-Q4_K_M.gguf": 200 * KIB,
    "Tiny-Llama-Q8_0.gguf": 1024 * KIB,
    "Tiny-Llama-Q6_K/Tiny-Llama-Q6_K-00001-of-00002.gguf": 300 * KIB,
    "Tiny-Llama-Q6_K/Tiny-Llama-Q6_K-00002-of-00002.gguf": 150 * KIB,
    "mmproj-Tiny-Llama-f16.gguf": 64 * KIB,
    "Tiny-Llama.imatrix": 10 * KIB,
}


def _text(obj: object) -> bytes:
    return json.dumps(obj, indent=2).encode()


def gguf_repo() -> FakeRepo:
    files = {path: blob(path, size) for path, size in GGUF_FILES.items()}
    files |= {".gitattributes": b"*.gguf filter=lfs diff=lfs merge=lfs -text\n", "README.md": b"# Tiny Llama GGUF\n"}
    return FakeRepo(GGUF_REPO, files, info={
        "library_name": "gguf", "downloads": 5000, "likes": 40, "trendingScore": 12,
        "tags": ["gguf", "llama", "text-generation", f"base_model:{GATED_REPO}", "license:llama3.2", "conversational"],
        "cardData": {"base_model": GATED_REPO, "license": "llama3.2", "quantized_by": "bartowski",
                     "pipeline_tag": "text-generation"},
        "gguf": {"total": 1235814432, "architecture": "llama", "context_length": 131072,
                 "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    })


def safetensors_repo(repo_id: str, *, with_meta: bool) -> FakeRepo:
    files = {
        "config.json": _text(TINY_CONFIG), "generation_config.json": _text({"bos_token_id": 1}),
        "model.safetensors": safetensors_bytes(TINY_TENSORS), "tokenizer.json": _text({"version": "1.0"}),
        "tokenizer_config.json": _text({"model_max_length": 2048}), "README.md": b"# tiny\n",
        "original/consolidated.00.pth": blob("pth", 4 * KIB),
    }
    info = {"downloads": 100, "likes": 3, "trendingScore": 1, "tags": ["transformers", "safetensors", "llama",
                                                                       "license:apache-2.0"],
            "cardData": {"license": "apache-2.0"},
            "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}}
    if with_meta:
        info["safetensors"] = {"parameters": dict(TINY_PARAMS), "total": sum(TINY_PARAMS.values())}
    return FakeRepo(repo_id, files, info=info)


def gated_repo() -> FakeRepo:
    return FakeRepo(GATED_REPO, {"config.json": _text(LLAMA_32_1B_CONFIG), "model.safetensors": blob("gated", 8 * KIB)},
                    gated="manual", info={
                        "downloads": 90000, "likes": 900, "trendingScore": 30,
                        "tags": ["transformers", "safetensors", "llama", "license:llama3.2"],
                        "cardData": {"license": "llama3.2", "extra_gated_prompt": "Accept the license"},
                        "safetensors": {"parameters": {"BF16": 1235814400}, "total": 1235814400}})


def filler() -> list[FakeRepo]:
    """Search filler: (downloads, likes, trending, params, gguf?) chosen so each sort order differs."""
    rows = [("acme/model-a", 10, 50, 1, 7e9, True), ("acme/model-b", 40, 10, 9, 1e9, False),
            ("acme/model-c", 30, 30, 5, 70e9, True), ("other/model-d", 20, 20, 7, 3e9, True),
            ("other/model-e", 50, 40, 3, 14e9, False)]
    repos = []
    for repo_id, downloads, likes, trending, params, gguf in rows:
        tags = ["gguf", "text-generation"] if gguf else ["transformers", "safetensors"]
        key = "gguf" if gguf else "safetensors"
        block = {"total": int(params)} | ({} if gguf else {"parameters": {"BF16": int(params)}})
        repos.append(FakeRepo(repo_id, {"README.md": b"x"}, info={
            "downloads": downloads, "likes": likes, "trendingScore": trending, "tags": tags, key: block,
            "library_name": "gguf" if gguf else "transformers"}))
    return repos


def build(hub: FakeHub) -> FakeHub:
    for repo in [gguf_repo(), safetensors_repo(ST_REPO, with_meta=True),
                 safetensors_repo(ST_NOMETA_REPO, with_meta=False), gated_repo(), *filler()]:
        hub.add(repo)
    return hub
