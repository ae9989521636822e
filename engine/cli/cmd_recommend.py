"""``quantpick recommend SOURCE``: which file type fits this (or a named) machine, and how to run it."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from engine.cli.common import add_command, human_bytes
from engine.errors import UsageError
from engine.hardware import GIB, MIB, load_profile
from engine.recommend import ContextParams, FitRequest, Recommendation, kv_type, recommend, resolve
from engine.recommend.model import HF_ARCH, ModelDescription, from_catalog_dims
from engine.recommend.rank import DEFAULT_MIN_TOKENS_PER_S
from engine.recommend.tensor_shapes import with_gguf_tensors


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "recommend",
        help="pick the file type, GPU layers and context that fit a machine",
        description="Size every llama-quantize file type of a model (exact per-tensor bytes, KV cache, compute "
        "buffers as llama.cpp allocates them), fit each to the GPUs and RAM, estimate tokens/s, and pick one.",
    )
    parser.add_argument("source", help="a GGUF file, a Hugging Face model folder, or a catalog/Hub id")
    parser.add_argument("--ctx", type=int, default=None, help="context wanted (default: trained, up to 32768)")
    parser.add_argument("--hardware", metavar="FILE|PRESET", default=None,
                        help="a JSON profile from `quantpick hardware --json`, or a preset name (default: detect)")
    parser.add_argument("--kv-type", default="f16", help="KV cache type for K and V: f16, q8_0, q4_0 ...")
    parser.add_argument("--no-flash-attn", action="store_true", help="size for flash attention off")
    parser.add_argument("--parallel", type=int, default=None,
                        help="server slots (llama-server -np); default: llama-server's 4 slots sharing one KV pool")
    parser.add_argument("--types", default=None, help="comma-separated file types to consider (default: common mixes; "
                        "a GGUF is judged as it is unless types are given)")
    parser.add_argument("--min-speed", type=float, default=DEFAULT_MIN_TOKENS_PER_S,
                        help="tokens/s the pick must reach (default %(default)s)")
    parser.add_argument("--margin", type=int, default=1024, help="MiB to keep free on each GPU (default 1024)")
    parser.add_argument("--ram-margin", type=int, default=1024, help="MiB to keep free in RAM (default 1024)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def _describe(source: str) -> ModelDescription:
    """A file, folder or catalog id; a Hub id outside the catalog is looked up through engine.hub."""
    try:
        return resolve(source)
    except UsageError:
        if "/" not in source:
            raise
    from engine.hub.client import HubClient  # only needed for ids the catalog lacks

    details = HubClient().details(source)
    arch = HF_ARCH.get(details.model_type or "")
    if details.dims is None or arch is None:
        raise UsageError(f"Quantpick could not read the dimensions of {source} from the Hub.",
                         "Download the model folder or a GGUF and pass its path.")
    desc = from_catalog_dims(details.dims.to_json(), arch=arch, name=source.split("/")[-1])
    return with_gguf_tensors(desc, qkv_bias=details.dims.qkv_bias)


def _request(args: argparse.Namespace) -> FitRequest:
    kv = kv_type(args.kv_type)
    if args.parallel is not None and args.parallel < 1:
        raise UsageError("--parallel must be at least 1.")
    context = ContextParams.llama_server(n_parallel=args.parallel, type_k=kv, type_v=kv,
                                         flash_attn=not args.no_flash_attn)
    if args.ctx is not None and args.ctx < 1:
        raise UsageError("--ctx must be a positive number of tokens.")
    return FitRequest(n_ctx=args.ctx, context=context, gpu_margin=args.margin * MIB, ram_margin=args.ram_margin * MIB)


def run(args: argparse.Namespace) -> int:
    desc = _describe(args.source)
    hw = load_profile(args.hardware)
    types = [t.strip() for t in args.types.split(",") if t.strip()] if args.types else None
    req = _request(args)
    if args.ctx is not None:
        req = replace(req, n_ctx_min=min(req.n_ctx_min, args.ctx))
    rec = recommend(desc, hw, req, file_types=types, min_tokens_per_s=args.min_speed)
    print(json.dumps(to_dict(rec), indent=2) if args.json else format_recommendation(rec))
    return 0


def _option_dict(o: Any) -> dict[str, Any]:
    f = o.fit
    return {
        "file_type": o.file_type, "file_bytes": o.file_bytes, "mode": f.mode, "fits": f.fits, "n_ctx": f.n_ctx,
        "n_gpu_layers": f.placement.n_gpu_layers, "layers_per_gpu": list(f.placement.layers_per_gpu),
        "n_cpu_moe": f.placement.n_cpu_moe, "tokens_per_s": round(o.tokens_per_s, 2),
        "ppl_increase": o.quality.ppl_increase, "quality": o.quality.grade, "traded": list(f.traded),
        "memory": {d.name: {"model": d.model, "context": d.context, "compute": d.compute, "output": d.output}
                   for d in (*f.memory.gpus, f.memory.host)},
    }


def to_dict(rec: Recommendation) -> dict[str, Any]:
    """JSON-ready form of a recommendation."""
    out: dict[str, Any] = {
        "model": rec.model, "hardware": rec.hardware, "explanation": rec.explanation,
        "best": rec.best.file_type if rec.best else None, "options": [_option_dict(o) for o in rec.options],
    }
    if rec.commands:
        out["commands"] = {"llama_server": rec.commands.llama_server, "ollama_modelfile": rec.commands.ollama_modelfile,
                           "lm_studio": rec.commands.lm_studio}
    if rec.seeds:
        out["seed_formats"] = {"gptq_awq_4bit_bytes": rec.seeds.gptq_awq_4bit_bytes,
                               "gptq_awq_4bit_fits": rec.seeds.gptq_awq_4bit_fits, "exl2_bpw": rec.seeds.exl2_bpw}
    return out


def format_recommendation(rec: Recommendation) -> str:
    """The ranked table, the one-sentence reason, and the commands."""
    head = f"{'':2}{'type':<8} {'file':>9} {'where':<6} {'-ngl':>5} {'ctx':>7} {'memory':>9} {'tok/s':>7}  quality"
    rows = [f"{rec.model} on {rec.hardware}", "", head]
    for o in rec.options:
        f = o.fit
        mark = "*" if o is rec.best else " "
        if not f.fits:
            rows.append(f"{mark} {o.file_type:<8} {human_bytes(o.file_bytes):>9} {'-':<6} does not fit: "
                        + "; ".join(f.traded))
            continue
        rows.append(f"{mark} {o.file_type:<8} {human_bytes(o.file_bytes):>9} {f.mode:<6} {f.placement.n_gpu_layers:>5} "
                    f"{f.n_ctx:>7} {f.memory.total / GIB:>7.1f}Gi {o.tokens_per_s:>7.1f}  {o.quality.grade}")
    rows += ["", rec.explanation]
    if rec.commands:
        rows += ["", "llama.cpp:  " + rec.commands.llama_server, "Ollama Modelfile:",
                 *("  " + line for line in rec.commands.ollama_modelfile.splitlines()),
                 "LM Studio:  " + rec.commands.lm_studio]
    if rec.seeds:
        fits = "fits" if rec.seeds.gptq_awq_4bit_fits else "does not fit"
        exl2 = f"EXL2 at {rec.seeds.exl2_bpw} bpw fills the VRAM" if rec.seeds.exl2_bpw else "EXL2 does not fit"
        rows.append(f"Other formats: GPTQ/AWQ 4-bit ({human_bytes(rec.seeds.gptq_awq_4bit_bytes)}) {fits}; {exl2}.")
    return "\n".join(rows)
