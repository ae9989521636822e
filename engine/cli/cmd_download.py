"""``quantpick download REPO [--quant Q4_K_M]``: fetch one GGUF quant, or the safetensors, config and
tokenizer files, into the Hugging Face cache. Interrupted downloads resume when run again."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.cli.common import add_command, human_bytes
from engine.errors import UsageError
from engine.hub.client import HubClient
from engine.hub.details import source_files
from engine.hub.models import DownloadResult, ModelDetails
from engine.progress import Progress, ignore_progress


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "download",
        help="download one GGUF quant (or the safetensors files) of a Hugging Face model",
        description="Download into the Hugging Face cache (HF_HOME). With --quant, only that quant's files "
        "(every shard of a split one); without it, the safetensors weights plus config and tokenizer, "
        "ready to convert. Stopped downloads resume where they left off.",
    )
    parser.add_argument("repo", help="the model repo, e.g. bartowski/Llama-3.2-1B-Instruct-GGUF")
    parser.add_argument("--quant", "-q", help="the quant to download, e.g. Q4_K_M")
    parser.add_argument("--list", action="store_true", help="list the repo's GGUF quants and sizes, download nothing")
    parser.add_argument("--revision", help="branch, tag or commit (default: main)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    client = HubClient()
    details = client.details(args.repo, revision=args.revision)
    if args.list:
        print(json.dumps(variants_json(details), indent=2) if args.json else format_variants(details))
        return 0
    report = _terminal_progress if sys.stderr.isatty() and not args.json else ignore_progress
    if args.quant:
        variant = details.variant(args.quant)
        if variant is None:
            raise UsageError(f"{args.repo} has no {args.quant} GGUF file.", f"Quants in this repo: {_names(details)}.")
        result = client.download_quant(args.repo, variant, revision=args.revision, on_progress=report)
    else:
        files = source_files(details.files)
        if not any(f.path.endswith(".safetensors") for f in files):
            raise UsageError(f"{args.repo} has no safetensors weights to download.",
                             f"Pick a quant with --quant; this repo has: {_names(details)}.")
        files.sort(key=lambda f: (f.path != "config.json", f.path))
        result = client.download_files(args.repo, files, revision=args.revision, on_progress=report)
    if report is not ignore_progress:
        print(file=sys.stderr)
    print(json.dumps(result_json(result), indent=2) if args.json else format_result(result))
    return 0


def _names(details: ModelDetails) -> str:
    return ", ".join(v.name for v in details.gguf_variants) or "none"


def variants_json(details: ModelDetails) -> list[dict[str, Any]]:
    return [{"name": v.name, "quant": v.quant, "bytes": v.size, "files": [f.path for f in v.files],
             "complete": v.complete} for v in details.gguf_variants]


def format_variants(details: ModelDetails) -> str:
    if not details.gguf_variants:
        return f"{details.repo_id} has no GGUF files."
    width = max(len(v.name) for v in details.gguf_variants)
    lines = [f"{v.name:<{width}}  {human_bytes(v.size):>10}" + (f"  ({v.shard_count} files)" if v.is_split else "")
             + ("" if v.complete else "  INCOMPLETE") for v in details.gguf_variants]
    extras = [f"projector: {f.path}" for f in details.mmproj_files]
    extras += [f"imatrix: {f.path}" for f in details.imatrix_files]
    return "\n".join(lines + extras)


def result_json(result: DownloadResult) -> dict[str, Any]:
    return {"repo_id": result.repo_id, "revision": result.revision, "path": str(result.main_path),
            "folder": str(result.snapshot_dir), "files": [str(p) for p in result.paths],
            "bytes": result.total_bytes, "downloaded_bytes": result.downloaded_bytes}


def format_result(result: DownloadResult) -> str:
    fetched = human_bytes(result.downloaded_bytes) if result.downloaded_bytes else "nothing new"
    return f"{result.main_path}\n({human_bytes(result.total_bytes)} in {len(result.paths)} files; downloaded {fetched})"


def _terminal_progress(p: Progress) -> None:
    eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
    print(f"\r{100 * p.fraction:5.1f}%  {p.rate / 1e6:7.1f} MB/s{eta}  {p.current[:48]:<48}",
          end="", file=sys.stderr, flush=True)
