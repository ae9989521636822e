"""bench.llama_load_check without llama.cpp: a fake llama-completion, the verdicts and the report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.llama_load_check import (
    Generation,
    LlamaCpp,
    Row,
    _tiny_status,
    leading_agreement,
    parse_args,
    render,
    tiny_sources,
)

_FAKE = '''#!{python}
import pathlib, sys
counter = pathlib.Path(sys.argv[0]).with_suffix(".count")
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
if any(a.endswith("broken.gguf") for a in sys.argv):
    sys.stderr.write("0.00.001.000 I loading\\n0.00.002.000 E llama_model_load: error loading model: bad key\\n"
                     "0.00.003.000 E llama_completion: error: unable to create context\\n")
    sys.exit(1)
if n < {lost}:  # llama.cpp's log queue lost the end of this run
    sys.stderr.write("0.00.001.000 I generate: n_ctx = 256\\n")
    sys.exit(0)
print(" Paris. [end of text]")
sys.stderr.write("0.00.054.557 I common_perf_print:    samplers time =  0.07 ms /    13 tokens\\n"
                 "0.00.054.596 I common_perf_print: prompt eval time =  2.66 ms /     5 tokens (0.53 ms per token)\\n")
'''


def _fake_llama(tmp: Path, lost: int) -> LlamaCpp:
    exe = tmp / "llama-completion"
    exe.write_text(_FAKE.format(python=sys.executable, lost=lost))
    exe.chmod(0o755)
    return LlamaCpp(tmp)


def test_generation_counts_tokens_and_retries_cut_logs(tmp_path: Path) -> None:
    gen = _fake_llama(tmp_path, lost=2).complete(tmp_path / "m.gguf", "The capital of France is", 8)
    assert (gen.returncode, gen.text, gen.n_generated, gen.ok) == (0, "Paris.", 8, True)
    assert (tmp_path / "llama-completion.count").read_text() == "3"


def test_a_log_cut_in_every_run_is_said(tmp_path: Path) -> None:
    gen = _fake_llama(tmp_path, lost=99).complete(tmp_path / "m.gguf", "Hi", 8)
    assert gen.n_generated is None and gen.text == "" and not gen.ok
    assert gen.error == "llama.cpp's log was cut off in all 10 runs"


def test_failure_reports_llama_cpps_first_error(tmp_path: Path) -> None:
    gen = _fake_llama(tmp_path, lost=0).complete(tmp_path / "broken.gguf", "Hi", 8)
    assert not gen.ok and gen.error == "llama_model_load: error loading model: bad key"
    assert (tmp_path / "llama-completion.count").read_text() == "1"


def test_missing_tool_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="llama-quantize"):
        LlamaCpp(tmp_path).tool("llama-quantize")


def _gen(rc: int, tokens: int | None, text: str = "x") -> Generation:
    return Generation(rc, text, tokens, 0.1, "" if rc == 0 else "boom")


def test_tiny_verdicts() -> None:
    assert _tiny_status(_gen(0, 8), _gen(0, 8)) == "ok"
    assert _tiny_status(_gen(0, 3), _gen(0, 8)) == "FAIL generate"
    assert _tiny_status(_gen(1, None), _gen(0, 8)) == "FAIL load"
    assert _tiny_status(_gen(1, None), _gen(1, None)) == "refused, as llama.cpp's own file"
    assert _tiny_status(_gen(0, None, ""), _gen(0, 8)) == "FAIL generate"


def test_leading_agreement() -> None:
    assert leading_agreement("Paris. The answer", "Paris. The city") == 2
    assert leading_agreement("Lyon", "Paris") == 0
    assert leading_agreement("", "Paris") == 0


def test_report_table_and_texts() -> None:
    rows = [Row("tiny", "mistral", "Q8_0", "ok", 0.52, 8, "a|b"), Row("real", "x", "Q4_K_M", "FAIL convert")]
    report = render(rows, [("original", "1, 2,", " 3, 4")], "test")
    assert "| tiny | mistral | Q8_0 | ok | 0.5 | 8 | a/b |" in report
    assert "| real | x | Q4_K_M | FAIL convert |  |  |  |" in report
    assert "- **original**, prompt '1, 2,': ' 3, 4'" in report
    assert rows[1].failed and not rows[0].failed


def test_tiny_sources_cover_every_case(tmp_path: Path) -> None:
    names = [name for name, folder, ref in tiny_sources(tmp_path)]
    assert names[:2] == ["tiny-llama-spm", "tiny-llama-bpe"] and {"qwen3", "gemma3", "phi3-added"} <= set(names)
    only = tiny_sources(tmp_path / "one", ["qwen2"])
    assert len(only) == 1 and (only[0][1] / "config.json").exists() and only[0][2].exists()


def test_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_CPP_BIN", raising=False)
    with pytest.raises(SystemExit):
        parse_args([])  # no llama.cpp folder
    with pytest.raises(SystemExit):
        parse_args(["--llama-bin", str(tmp_path)])  # no tools in it
    for tool in ("llama-completion", "llama-quantize"):
        (tmp_path / tool).write_text("")
        (tmp_path / tool).chmod(0o755)
    assert parse_args(["--llama-bin", str(tmp_path)]).threads == 2
    with pytest.raises(SystemExit):
        parse_args(["--llama-bin", str(tmp_path), "--cases", "nonesuch"])
