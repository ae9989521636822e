"""A replay of ggml's graph allocator (ggml/src/ggml-alloc.c) on a graph of tensor sizes.

llama.cpp sizes its compute buffer by running this allocator over the worst-case graph: tensors are placed
in a best-fit free list as nodes execute, freed when their last consumer has run, and computed in place over
a parent when the op allows it. The buffer is the allocator's high-water mark, so replaying the same
decisions gives the same number, fragmentation included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

_TAIL = 1 << 62  # the last free block stands for "the rest of the buffer"


@dataclass(eq=False, slots=True)
class Tensor:
    """One graph tensor.

    Attributes:
        size: bytes the backend allocates for it (0 for views and for tensors held elsewhere).
        srcs: parents with a flag that is True when the edge goes through a view (reshape, permute ...);
            ggml never computes in place over a view, and a view keeps its source alive until it is consumed.
        inplace: the op may reuse a parent's memory (ggml_op_can_inplace: add, mul, scale, norms, rope ...).
        output: a graph output (logits), never freed.
        external: weights and KV cache, which live in other buffers.
        name: for debugging only.
    """

    size: int
    srcs: list[tuple[Tensor, bool]] = field(default_factory=list)
    inplace: bool = False
    output: bool = False
    external: bool = False
    name: str = ""


class DynAllocator:
    """ggml_dyn_tallocr with one chunk: best fit among inner free blocks, else the tail."""

    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.blocks: list[list[int]] = [[0, _TAIL]]
        self.max_size = 0

    def _pad(self, size: int) -> int:
        return -(-size // self.alignment) * self.alignment

    def alloc(self, size: int) -> int:
        size = self._pad(size)
        best, best_size = -1, _TAIL * 2
        for i, (_, bsize) in enumerate(self.blocks[:-1]):
            if size <= bsize <= best_size:
                best, best_size = i, bsize
        if best < 0:
            best = len(self.blocks) - 1
        block = self.blocks[best]
        offset = block[0]
        block[0] += size
        block[1] -= size
        if block[1] == 0:
            del self.blocks[best]
        self.max_size = max(self.max_size, offset + size)
        return offset

    def free(self, offset: int, size: int) -> None:
        size = self._pad(size)
        blocks = self.blocks
        for i, block in enumerate(blocks):
            if block[0] + block[1] == offset:
                block[1] += size
                if i + 1 < len(blocks) and block[0] + block[1] == blocks[i + 1][0]:
                    block[1] += blocks[i + 1][1]
                    del blocks[i + 1]
                return
            if offset + size == block[0]:
                block[0] = offset
                block[1] += size
                if i > 0 and blocks[i - 1][0] + blocks[i - 1][1] == block[0]:
                    blocks[i - 1][1] += block[1]
                    del blocks[i]
                return
        pos = 0
        while pos < len(blocks) and blocks[pos][0] < offset:
            pos += 1
        blocks.insert(pos, [offset, size])


@dataclass(slots=True)
class _State:
    children: int = 0
    allocated: bool = False
    offset: int = 0


def peak_bytes(inputs: Sequence[Tensor], nodes: Sequence[Tensor], *, alignment: int) -> int:
    """The compute buffer ggml-alloc would reserve for this graph.

    Args:
        inputs: graph inputs (token ids, positions, masks ...) in the order the graph's leafs list them;
            they are allocated first, as ggml does.
        nodes: non-view nodes in execution order.
        alignment: the buffer type's alignment.
    """
    alloc = DynAllocator(alignment)
    state: dict[int, _State] = {}

    def st(t: Tensor) -> _State:
        s = state.get(id(t))
        if s is None:
            s = state[id(t)] = _State()
        return s

    def allocate(t: Tensor) -> None:
        s = st(t)
        if t.external or s.allocated:
            return
        s.allocated = True
        if t.inplace:
            for parent, via_view in t.srcs:
                ps = st(parent)
                if via_view or parent.external or parent.output or not ps.allocated or parent.size != t.size:
                    continue
                if ps.children == 1:
                    s.offset = ps.offset
                    ps.allocated = False  # ownership moves to the child
                    return
        s.offset = alloc.alloc(t.size)

    for t in inputs:
        allocate(t)
    for node in nodes:
        for parent, _ in node.srcs:
            st(parent).children += 1
    for node in nodes:
        allocate(node)
        for parent, _ in node.srcs:
            ps = st(parent)
            ps.children -= 1
            if ps.children == 0 and ps.allocated and not parent.output:
                alloc.free(ps.offset, parent.size)
                ps.allocated = False
    return alloc.max_size
