"""SentencePiece ``tokenizer.model``: pieces, scores and token types, as GGUF stores them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.convert.hf.protobuf import LENGTH, VARINT, FIXED32, as_float32, iter_fields
from engine.errors import CorruptInputError

# SentencePiece piece types share their numbers with GGUF's token types.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
MAX_MODEL_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class SentencePieceModel:
    """The vocabulary of a SentencePiece model, in id order."""

    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    types: tuple[int, ...]
    add_dummy_prefix: bool

    @classmethod
    def from_bytes(cls, data: bytes) -> "SentencePieceModel":
        pieces: list[str] = []
        scores: list[float] = []
        types: list[int] = []
        add_dummy_prefix = True
        for field, wire, value in iter_fields(data):
            if field == 1 and wire == LENGTH:
                piece, score, kind = _parse_piece(value)  # type: ignore[arg-type]
                pieces.append(piece)
                scores.append(score)
                types.append(kind)
            elif field == 3 and wire == LENGTH:
                add_dummy_prefix = _parse_add_dummy_prefix(value)  # type: ignore[arg-type]
        if not pieces:
            raise CorruptInputError(
                "The tokenizer.model file holds no vocabulary.", "Download tokenizer.model again."
            )
        return cls(tuple(pieces), tuple(scores), tuple(types), add_dummy_prefix)

    @classmethod
    def from_file(cls, path: Path) -> "SentencePieceModel":
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise CorruptInputError(
                f"{path.name} is {size >> 20} MB, far larger than any SentencePiece model.",
                "Check that the file really is a SentencePiece tokenizer.",
            )
        return cls.from_bytes(path.read_bytes())


def _parse_piece(buf: bytes) -> tuple[str, float, int]:
    piece, score, kind = "", 0.0, NORMAL
    for field, wire, value in iter_fields(buf):
        if field == 1 and wire == LENGTH:
            try:
                piece = bytes(value).decode("utf-8")  # type: ignore[arg-type]
            except UnicodeDecodeError as e:
                raise CorruptInputError(
                    "A token in tokenizer.model is not valid UTF-8.", "Download tokenizer.model again."
                ) from e
        elif field == 2 and wire == FIXED32:
            score = as_float32(value)
        elif field == 3 and wire == VARINT:
            kind = int(value)  # type: ignore[arg-type]
    if kind not in (NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE):
        raise CorruptInputError(
            f"Token {piece!r} in tokenizer.model has an unknown type {kind}.", "Download tokenizer.model again."
        )
    return piece, score, kind


def _parse_add_dummy_prefix(buf: bytes) -> bool:
    for field, wire, value in iter_fields(buf):
        if field == 3 and wire == VARINT:
            return bool(value)
    return True
