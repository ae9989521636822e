"""The parsers under attack, each with golden-derived inputs and a way to run and check one input.

A target's ``make(rng)`` returns a ``Case``: the files to write into an empty folder, and what to call
on that folder. Every call goes through the same entry points the app and the CLI use (``summarize``
for a dropped file, the format readers, ``read_imatrix``), and whatever parses is then used (tensor
views read, summaries built) so a header that lies cannot pass unnoticed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.convert.hf.spm import SentencePieceModel
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_split import read_gguf_split
from engine.formats.gguf_write import MetaValue, TensorSlot, encode_header
from engine.formats.hf_folder import read_hf_folder
from engine.formats.safetensors import read_safetensors
from engine.formats.safetensors_index import read_safetensors_index
from engine.formats.summary import summarize
from engine.quant.imatrix import read_imatrix
from tests.conftest import GOLDEN
from tests.fuzz import gguf_mut, imatrix_mut, proto_mut, st_mut
from tests.fuzz.json_mut import mutate_json
from tests.fuzz.mutate import Sample

SPM = GOLDEN / "convert" / "hf-tiny-llama-spm"
BPE = GOLDEN / "convert" / "hf-tiny-llama-bpe"


@dataclass(frozen=True, slots=True)
class Case:
    """One fuzz input: files (name -> sample) for an empty folder, and the call that parses them."""

    files: dict[str, Sample]
    run: Callable[[Path], object]
    label: str


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    make: Callable[[random.Random], Case]
    description: str


# -- GGUF ------------------------------------------------------------------------------------------
@cache
def gguf_bases() -> tuple[tuple[Sample, gguf_mut.Layout, float, str], ...]:
    """Golden GGUF files as header + sparse zero data (the imatrix whole), with their field maps."""
    out = []
    for rel, weight, whole in [("imatrix/imatrix.gguf", 2, True), ("convert/tiny-llama-spm-Q4_K_M.gguf", 3, False),
                               ("kernels/Q4_K.gguf", 2, False), ("requant/synth-a-f32.gguf", 2, False),
                               ("convert/tiny-llama-bpe-BF16.gguf", 0.15, False)]:
        data = (GOLDEN / rel).read_bytes()
        lay = gguf_mut.walk(data)
        sample = Sample.of(data) if whole else Sample(data[: lay.data_offset], len(data))
        out.append((sample, lay, weight, rel))
    return tuple(out)


def use_gguf(path: Path) -> None:
    g = read_gguf(path)
    _ = g.metadata
    for info in g.tensors:
        raw = g.raw(info.name)
        assert raw.nbytes == info.nbytes, info.name
        if raw.size:
            _ = int(raw.reshape(-1)[-1])  # the last byte lies inside the file


@cache
def split_bases() -> tuple[tuple[Sample, gguf_mut.Layout], ...]:
    """synth-a as a two-part split (llama.cpp's gguf-split layout), each part a header and sparse data."""
    from gguf import GGUFValueType

    g = read_gguf(GOLDEN / "requant" / "synth-a-f32.gguf")
    halves = (g.tensors[: len(g.tensors) // 2], g.tensors[len(g.tensors) // 2 :])
    out = []
    for i, tensors in enumerate(halves):
        keys = [("split.no", MetaValue(GGUFValueType.UINT16, i)),
                ("split.tensors.count", MetaValue(GGUFValueType.INT32, len(g.tensors))),
                ("split.count", MetaValue(GGUFValueType.UINT16, 2))]
        meta = (list(g.fields.items()) if i == 0 else []) + keys
        slots = [TensorSlot(t.name, t.shape, t.qtype) for t in tensors]
        head = encode_header(meta, slots)
        size = len(head) + sum(t.nbytes + (-t.nbytes % 32) for t in tensors)
        out.append((Sample(head, size), gguf_mut.walk(head)))
    return tuple(out)


def use_split(path: Path) -> None:
    split = read_gguf_split(path)
    for info in split.tensors:
        raw = split.raw(info.name)
        assert raw.nbytes == info.nbytes, info.name


def make_gguf(rng: random.Random) -> Case:
    if rng.random() < 0.08:  # a split model: one of its parts damaged
        parts = [sample for sample, _ in split_bases()]
        victim = rng.randrange(2)
        parts[victim] = gguf_mut.mutate(rng, *split_bases()[victim])
        files = {f"m-0000{i + 1}-of-00002.gguf": part for i, part in enumerate(parts)}
        return Case(files, lambda d: use_split(d / "m-00001-of-00002.gguf"), f"split part {victim + 1}")
    bases = gguf_bases()
    sample, lay, _, rel = rng.choices(bases, [b[2] for b in bases])[0]
    mutant = gguf_mut.mutate(rng, sample, lay)
    run: Callable[[Path], object] = (lambda d: summarize(d / "m.gguf")) if rng.random() < 0.2 else (
        lambda d: use_gguf(d / "m.gguf"))
    return Case({"m.gguf": mutant}, run, rel)


# -- safetensors -----------------------------------------------------------------------------------
@cache
def st_bases() -> tuple[tuple[dict[str, Any], int], ...]:
    out = []
    for folder in (SPM, BPE):
        raw = (folder / "model.safetensors").read_bytes()
        n = int.from_bytes(raw[:8], "little")
        out.append((json.loads(raw[8 : 8 + n]), len(raw) - 8 - n))
    return tuple(out)


def use_safetensors(path: Path) -> None:
    f = read_safetensors(path)
    for info in f.tensors:
        assert f.view(info.name).nbytes == info.nbytes
    for info in f.tensors[:3]:
        f.to_float32(info.name)


def _shards(doc: dict[str, Any]) -> tuple[dict[str, Sample], dict[str, str]]:
    """The golden header split into two valid shard files, and the weight_map that lists them."""
    names = sorted((k for k in doc if k != "__metadata__"), key=lambda k: doc[k]["data_offsets"][0])
    files, weight_map = {}, {}
    for i, group in enumerate((names[: len(names) // 2], names[len(names) // 2 :])):
        fname = f"model-0000{i + 1}-of-00002.safetensors"
        header, pos = {}, 0
        for name in group:
            size = doc[name]["data_offsets"][1] - doc[name]["data_offsets"][0]
            header[name] = {**doc[name], "data_offsets": [pos, pos + size]}
            pos += size
            weight_map[name] = fname
        files[fname] = st_mut.file_sample(json.dumps(header).encode(), pos)
    return files, weight_map


def make_safetensors(rng: random.Random) -> Case:
    doc, data_len = rng.choice(st_bases())
    if rng.random() < 0.12:
        files, weight_map = _shards(doc)
        index = mutate_json(rng, {"metadata": {"total_size": data_len}, "weight_map": weight_map})
        files["model.safetensors.index.json"] = Sample.of(index)
        return Case(files, lambda d: _use_index(d / "model.safetensors.index.json"), "index")
    mutant = st_mut.mutate(rng, doc, data_len)
    run: Callable[[Path], object] = (lambda d: summarize(d / "model.safetensors")) if rng.random() < 0.2 else (
        lambda d: use_safetensors(d / "model.safetensors"))
    return Case({"model.safetensors": mutant}, run, "safetensors")


def _use_index(path: Path) -> None:
    model = read_safetensors_index(path)
    for info in model.tensors:
        assert model.view(info.name).nbytes == info.nbytes


# -- Hugging Face folder JSON: config.json, generation_config.json, tokenizer_config.json -------------
@cache
def weights_sample(folder: Path) -> Sample:
    raw = (folder / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return Sample(raw[: 8 + n], len(raw))


def hf_source_opener() -> Callable[[Path], object] | None:
    """Open a folder as a conversion source, when the Hugging Face source exists in this checkout."""
    try:
        from engine.convert.hf import open_hf_source  # type: ignore[attr-defined]
    except ImportError:
        return None

    def opener(folder: Path) -> object:
        with open_hf_source(folder, outtype=None) as source:
            return [t.name for t in source.tensors]

    return opener


def use_folder(folder: Path) -> None:
    summary = summarize(folder)
    assert summary.context_length is None or type(summary.context_length) is int
    assert summary.layers is None or type(summary.layers) is int
    assert summary.architecture is None or isinstance(summary.architecture, str)
    assert summary.tokenizer is None or isinstance(summary.tokenizer, str)
    read_hf_folder(folder)
    opener = hf_source_opener()
    if opener is not None:
        opener(folder)


@cache
def json_docs() -> dict[str, Any]:
    return {
        "config.json": json.loads((SPM / "config.json").read_text()),
        "tokenizer_config.json": json.loads((SPM / "tokenizer_config.json").read_text()),
        "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2, "max_length": 2048},
    }


def make_hf_config(rng: random.Random) -> Case:
    docs = json_docs()
    files = {name: Sample.of(json.dumps(doc).encode()) for name, doc in docs.items()}
    victim = rng.choices(list(docs), [6, 2, 2])[0]
    files[victim] = Sample.of(mutate_json(rng, docs[victim]))
    files["model.safetensors"] = weights_sample(SPM)
    files["tokenizer.model"] = Sample.of((SPM / "tokenizer.model").read_bytes())
    return Case(files, use_folder, victim)


# -- tokenizers: tokenizer.json (BPE) and tokenizer.model (SentencePiece) -----------------------------
@cache
def small_tokenizer_json() -> dict[str, Any]:
    """The golden SmolLM2 tokenizer.json with its vocabulary and merges cut to a few hundred entries."""
    tok = json.loads((BPE / "tokenizer.json").read_text())
    vocab = dict(list(tok["model"]["vocab"].items())[:600])
    tok["model"]["vocab"] = vocab
    tok["model"]["merges"] = tok["model"]["merges"][:400]
    return tok


@cache
def spm_model() -> tuple[bytes, tuple[proto_mut.Record, ...]]:
    raw = (SPM / "tokenizer.model").read_bytes()
    return raw, tuple(proto_mut.records(raw))


def use_spm(folder: Path) -> None:
    model = SentencePieceModel.from_file(folder / "tokenizer.model")
    assert len(model.pieces) == len(model.scores) == len(model.types) > 0


def make_tokenizer(rng: random.Random) -> Case:
    if rng.random() < 0.5:
        raw, top = spm_model()
        return Case({"tokenizer.model": proto_mut.mutate(rng, raw, list(top))}, use_spm, "tokenizer.model")
    files = {"config.json": Sample.of((BPE / "config.json").read_bytes()), "model.safetensors": weights_sample(BPE),
             "tokenizer_config.json": Sample.of((BPE / "tokenizer_config.json").read_bytes()),
             "tokenizer.json": Sample.of(mutate_json(rng, small_tokenizer_json(), text_share=0.2))}
    return Case(files, use_folder, "tokenizer.json")


# -- importance matrices ---------------------------------------------------------------------------
@cache
def imatrix_dat() -> imatrix_mut.Dat:
    g = read_gguf(GOLDEN / "imatrix" / "imatrix.gguf")
    entries = {t.name[: -len(".in_sum2")]: np.asarray(g.view(t.name), np.float32).reshape(-1)
               for t in g.tensors if t.name.endswith(".in_sum2")}
    return imatrix_mut.build_dat(entries, calls=10, chunks=10, dataset=b"calibration.txt")


def use_imatrix(path: Path) -> None:
    imx = read_imatrix(path)
    imx.metadata()
    for name, values in imx.weights.items():
        assert values.dtype == np.float32 and np.isfinite(values).all(), name
        imx.for_tensor(name, values.size)


def make_imatrix(rng: random.Random) -> Case:
    if rng.random() < 0.4:
        mutant = imatrix_mut.mutate_dat(rng, imatrix_dat())
        return Case({"imatrix.dat": mutant}, lambda d: use_imatrix(d / "imatrix.dat"), "legacy")
    sample, lay, _, _ = gguf_bases()[0]
    if rng.random() < 0.3:
        mutant = imatrix_mut.damage_gguf_values(rng, sample, lay.data_offset)
    else:
        mutant = gguf_mut.mutate(rng, sample, lay)
    return Case({"imatrix.gguf": mutant}, lambda d: use_imatrix(d / "imatrix.gguf"), "gguf")


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("gguf", make_gguf, "GGUF reader (read_gguf, tensor views, summarize)"),
    Target("safetensors", make_safetensors, "safetensors reader and index (views, to_float32, summarize)"),
    Target("hf-config", make_hf_config, "config.json / generation_config.json / tokenizer_config.json"),
    Target("tokenizer", make_tokenizer, "tokenizer.json (folder summary) and tokenizer.model (SentencePiece)"),
    Target("imatrix", make_imatrix, "importance matrix, GGUF and legacy .dat"),
]}
