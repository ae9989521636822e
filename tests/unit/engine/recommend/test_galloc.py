"""The ggml-alloc replay on graphs small enough to follow by hand."""

from __future__ import annotations

from engine.recommend.galloc import DynAllocator, Tensor, peak_bytes


def test_chain_frees_parents_as_it_goes() -> None:
    a = Tensor(100)
    b = Tensor(100, [(a, False)])
    c = Tensor(100, [(b, False)])
    # a and b are both live while b is computed; a's block is reused for c
    assert peak_bytes([], [a, b, c], alignment=1) == 200


def test_inplace_reuses_the_only_parent() -> None:
    a = Tensor(100)
    b = Tensor(100, [(a, False)], inplace=True)
    c = Tensor(100, [(b, False)], inplace=True)
    assert peak_bytes([], [a, b, c], alignment=1) == 100


def test_no_inplace_through_a_view_or_with_other_consumers() -> None:
    a = Tensor(100)
    b = Tensor(100, [(a, True)], inplace=True)  # reads a through a reshape: ggml allocates anew
    assert peak_bytes([], [a, b], alignment=1) == 200
    x = Tensor(100)
    y = Tensor(100, [(x, False)], inplace=True)
    z = Tensor(100, [(x, False), (y, False)])  # x still needed by z, so y cannot overwrite it
    assert peak_bytes([], [x, y, z], alignment=1) == 300


def test_inputs_are_allocated_first_and_outputs_never_freed() -> None:
    inp = Tensor(10)
    a = Tensor(100, [(inp, False)])
    out = Tensor(50, [(a, False)], output=True)
    after = Tensor(100, [(out, False)])
    # inp(10) a(100) out(50): a is freed after out, then 'after' reuses a's hole
    assert peak_bytes([inp], [a, out, after], alignment=1) == 160


def test_alignment_and_best_fit() -> None:
    alloc = DynAllocator(32)
    first = alloc.alloc(10)
    second = alloc.alloc(100)
    third = alloc.alloc(40)
    assert (first, second, third) == (0, 32, 160)
    alloc.free(first, 10)
    alloc.free(third, 40)  # merges with the tail
    assert alloc.alloc(20) == 0  # best fit is the freed 32-byte hole
    alloc.free(second, 100)
    assert alloc.max_size == 224
