"""``quantpick search QUERY [--gguf] [--json]``: find models on the Hugging Face Hub (or, offline, in the
built-in catalog and the local cache)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from engine.cli.common import add_command, human_count
from engine.errors import UsageError
from engine.hub.client import HubClient
from engine.hub.models import ModelSummary, SearchPage, SearchQuery, SortKey

SORTS = {"downloads": SortKey.DOWNLOADS, "trending": SortKey.TRENDING, "likes": SortKey.LIKES,
         "recent": SortKey.RECENT, "updated": SortKey.UPDATED}
_COUNT = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[KMBT]?)$", re.IGNORECASE)
_SCALE = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def parse_count(text: str) -> float:
    """'7B' -> 7e9, '500M' -> 5e8, '1.5b' -> 1.5e9 (an argparse ``type``: bad input is a usage message)."""
    m = _COUNT.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a parameter count; write it like 500M, 7B or 1.5B")
    return float(m["n"]) * _SCALE[m["unit"].upper()]


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "search",
        help="search the Hugging Face Hub for models (works offline from the built-in catalog)",
        description="Search models on the Hugging Face Hub. Offline, the built-in catalog and the models "
        "already downloaded are searched instead, and the output says so.",
    )
    parser.add_argument("query", nargs="*", help="words the model name must contain")
    parser.add_argument("--gguf", action="store_true", help="only repos that ship GGUF files")
    parser.add_argument("--author", help="only models of this user or organisation")
    parser.add_argument("--sort", choices=sorted(SORTS), default="downloads", help="order (default: downloads)")
    parser.add_argument("--min-params", type=parse_count, metavar="N", help="at least N parameters (e.g. 3B)")
    parser.add_argument("--max-params", type=parse_count, metavar="N", help="at most N parameters (e.g. 14B)")
    parser.add_argument("--limit", type=int, default=20, help="results per page (default: 20)")
    parser.add_argument("--page", type=int, default=1, help="page number, from 1")
    parser.add_argument("--offline", action="store_true", help="do not contact the Hub")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.limit < 1 or args.page < 1:
        raise UsageError("--limit and --page must be at least 1.")
    query = SearchQuery(text=" ".join(args.query), author=args.author, gguf_only=args.gguf, sort=SORTS[args.sort],
                        min_params=args.min_params, max_params=args.max_params, page=args.page - 1,
                        page_size=args.limit)
    page = HubClient(offline=True if args.offline else None).search(query)
    if page.notice and not args.json:
        print(f"quantpick: {page.notice}", file=sys.stderr)
    print(json.dumps(page_json(page), indent=2) if args.json else format_page(page))
    return 0


def summary_json(s: ModelSummary) -> dict[str, Any]:
    return {
        "repo_id": s.repo_id, "author": s.author, "params": s.params, "downloads": s.downloads, "likes": s.likes,
        "gated": s.gated, "has_gguf": s.has_gguf, "pipeline_tag": s.pipeline_tag, "library": s.library,
        "last_modified": s.last_modified.isoformat() if s.last_modified else None, "source": s.source.value,
    }


def page_json(page: SearchPage) -> dict[str, Any]:
    return {"offline": page.offline, "notice": page.notice, "page": page.query.page + 1,
            "has_more": page.has_more, "results": [summary_json(s) for s in page.results]}


def format_page(page: SearchPage) -> str:
    if not page.results:
        return "No models found."
    width = max(len(s.repo_id) for s in page.results)
    rows = []
    for s in page.results:
        params = human_count(s.params) if s.params else "?"
        downloads = f"{s.downloads:,}" if s.downloads is not None else "-"
        flags = " ".join(f for f, on in (("GGUF", s.has_gguf), ("gated", s.gated),
                                          (s.source.value, s.source.value != "hub")) if on)
        rows.append(f"{s.repo_id:<{width}}  {params:>8}  {downloads:>12} downloads  {flags}".rstrip())
    if page.has_more:
        rows.append(f"More results: --page {page.query.page + 2}")
    return "\n".join(rows)
