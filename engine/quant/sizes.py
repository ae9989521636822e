"""Per-tensor types and exact byte counts of a llama-quantize output, before anything is written.

The recommender ranks file types by these numbers and the conversion planner lays out the output file
with them, so both agree with what ``GGUFStreamWriter`` (and llama-quantize) will actually produce.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import prod

from gguf import GGUFValueType

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType, tensor_bytes
from engine.formats.gguf_write import DEFAULT_ALIGNMENT, MetaValue, TensorSlot, encode_header
from engine.quant.ftypes import FileType, parse_file_type
from engine.quant.mix_rules import decide_types
from engine.quant.rules import ModelFacts, TensorSpec, tensor_order_key

__all__ = [
    "FileSize", "TensorChoice", "file_size", "plan_types", "quantized_metadata",
]

QUANTIZATION_VERSION = 2  # GGML_QNT_VERSION, written as general.quantization_version
# Keys llama-quantize drops from the input before appending its own (quant-spec 5.1).
_DROPPED_KEYS = frozenset({
    "general.quantization_version", "general.file_type", "split.no", "split.count", "split.tensors.count",
})

Metadata = Sequence[tuple[str, MetaValue]]


@dataclass(frozen=True, slots=True)
class TensorChoice:
    """One tensor of the planned output file.

    Attributes:
        name: GGUF tensor name.
        shape: GGUF shape, row length first.
        source: Type in the input.
        target: Type in the output.
        nbytes: Exact bytes of the tensor data in the output (without alignment padding).
        eligible: False for tensors llama-quantize never changes (norms, 1-D tensors, routers ...).
        fell_back: True when the row length forced a substitute for the rules' choice.
    """

    name: str
    shape: tuple[int, ...]
    source: GGMLType
    target: GGMLType
    nbytes: int
    eligible: bool
    fell_back: bool = False

    @property
    def n_elements(self) -> int:
        return prod(self.shape)

    @property
    def changes_type(self) -> bool:
        """True when the data must be converted; otherwise the input bytes are copied as they are."""
        return self.target != self.source

    def slot(self) -> TensorSlot:
        """This tensor as the GGUF writer announces it."""
        return TensorSlot(self.name, self.shape, self.target)


def plan_types(
    tensors: Iterable[TensorSpec | tuple[str, Sequence[int], GGMLType | str]],
    ftype: FileType | str | int,
    *,
    facts: ModelFacts,
    pure: bool = False,
    has_imatrix: bool = False,
    leave_output: bool = False,
) -> tuple[TensorChoice, ...]:
    """Choose every tensor's type as llama-quantize would, with exact sizes, in output-file order.

    Args:
        tensors: All tensors of the model: TensorSpec or ``(name, shape, source type)``; shape in GGUF
            order (row length first). The order given does not matter.
        ftype: A FileType, or a name/number ``parse_file_type`` accepts (``"Q4_K_M"``, ``15``).
        facts: Model hyper-parameters (``ModelFacts.from_gguf_metadata`` or ``from_hf_config``).
        pure: llama-quantize ``--pure``: no mixing rules.
        has_imatrix: An importance matrix will be used.
        leave_output: llama-quantize ``--leave-output-tensor``.

    Returns:
        One TensorChoice per tensor, sorted the way llama-quantize writes them (layer, then name).

    Raises:
        UsageError: unknown file type, a malformed tensor entry, or a row length no type can hold.
    """
    ft = ftype if isinstance(ftype, FileType) else parse_file_type(ftype)
    specs = [TensorSpec.of(t) for t in tensors]
    _check_unique(specs)
    decisions = decide_types(specs, ft, facts, pure=pure, has_imatrix=has_imatrix, leave_output=leave_output)
    choices = [
        TensorChoice(s.name, s.shape, s.source, d.target, tensor_bytes(d.target, s.shape), d.eligible, d.fell_back)
        for s, d in zip(specs, decisions)
    ]
    return tuple(sorted(choices, key=lambda c: tensor_order_key(c.name)))


def _check_unique(specs: Sequence[TensorSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise UsageError(f"Tensor {spec.name} appears twice in the model.", "The input model is malformed.")
        if not spec.shape or min(spec.shape) < 1:
            raise UsageError(f"Tensor {spec.name} has an invalid shape {spec.shape}.", "The input model is malformed.")
        seen.add(spec.name)


@dataclass(frozen=True, slots=True)
class FileSize:
    """Byte accounting of a GGUF file.

    Attributes:
        header_bytes: Magic, counts, metadata and tensor infos, padded to the alignment (= data offset).
        tensor_bytes: Sum of the tensors' own bytes.
        padding_bytes: Zero bytes after each tensor up to the alignment.
        n_elements: Weights in all tensors (for bits per weight).
    """

    header_bytes: int
    tensor_bytes: int
    padding_bytes: int
    n_elements: int

    @property
    def total(self) -> int:
        """The file's size on disk."""
        return self.header_bytes + self.tensor_bytes + self.padding_bytes

    @property
    def bits_per_weight(self) -> float:
        """Tensor data bits per weight, the figure llama.cpp reports as BPW."""
        return 8 * self.tensor_bytes / self.n_elements if self.n_elements else 0.0


def file_size(
    choices: Sequence[TensorChoice], metadata: Metadata = (), *, alignment: int = DEFAULT_ALIGNMENT,
) -> FileSize:
    """Exact size of a GGUF file holding ``choices`` (in the given order) and ``metadata``.

    Without metadata the header counts only the tensor infos; give the output's metadata (for a requant:
    ``quantized_metadata(input_metadata, ftype)``) to get the size of the file byte for byte.

    Raises:
        UsageError: an alignment that is not a power of two, or invalid metadata.
    """
    if alignment < 1 or alignment & (alignment - 1):
        raise UsageError(f"GGUF alignment must be a power of two, not {alignment}.")
    header = len(encode_header(list(metadata), [c.slot() for c in choices], alignment))
    data = sum(c.nbytes for c in choices)
    padding = sum(-c.nbytes % alignment for c in choices)
    return FileSize(header, data, padding, sum(c.n_elements for c in choices))


def quantized_metadata(metadata: Metadata, ftype: FileType | str | int) -> list[tuple[str, MetaValue]]:
    """The key/values llama-quantize writes: the input's, minus split and old type keys, plus its own two.

    Raises:
        UsageError: unknown file type.
    """
    ft = ftype if isinstance(ftype, FileType) else parse_file_type(ftype)
    kept = [(key, value) for key, value in metadata if key not in _DROPPED_KEYS]
    return kept + [
        ("general.quantization_version", MetaValue(GGUFValueType.UINT32, QUANTIZATION_VERSION)),
        ("general.file_type", MetaValue(GGUFValueType.UINT32, ft.llama_ftype)),
    ]
