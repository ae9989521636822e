"""Rebuild tests/data/golden/convert-archs: tiny checkpoints and llama.cpp's conversions of them.

Run with a Python that has torch, transformers and sentencepiece, pointing at llama.cpp's converter:

    python -m tests.unit.engine.convert.hf.make_references /path/to/convert_hf_to_gguf.py

(The checked-in files were made with llama.cpp 0c1e570, transformers 5.23.0 and torch 2.14.1.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.unit.engine.convert.hf.arch_cases import ARCHS_DIR, CASES
from tests.unit.engine.convert.hf.checkpoints import make_checkpoint


def main(converter: str) -> None:
    ARCHS_DIR.mkdir(parents=True, exist_ok=True)
    for seed, case in enumerate(CASES):
        target = ARCHS_DIR / case.name
        shutil.rmtree(target, ignore_errors=True)
        make_checkpoint(target, case.config, family=case.family, tokenizer=None, dtype=case.dtype, seed=seed,
                        **case.build)
        with tempfile.TemporaryDirectory() as tmp:
            folder = case.folder(Path(tmp))
            subprocess.run([sys.executable, converter, str(folder), "--outtype", case.outtype,
                            "--outfile", str(case.reference)], check=True)


if __name__ == "__main__":
    main(sys.argv[1])
