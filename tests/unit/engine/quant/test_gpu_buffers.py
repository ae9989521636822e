"""Pinned buffers are locked when first needed and only grow, so a slot locks memory once per size."""

from __future__ import annotations

import numpy as np

from engine.quant.gpu_buffers import Slot, pinned
from tests.unit.engine.quant.fake_cupy import FakeCupy


def test_pinned_gives_the_count_and_type_asked_for() -> None:
    cupy = FakeCupy()
    arr = pinned(cupy, 5, np.uint32)
    assert arr.shape == (5,) and arr.dtype == np.uint32 and cupy.pinned_bytes == 20


def test_slot_buffers_are_locked_on_first_use_and_only_grow() -> None:
    cupy = FakeCupy()
    slot = Slot(cupy, capacity=1024)
    assert cupy.pinned_bytes == 0 and slot.device_in.size == 1024
    first = slot.input(2048)
    assert first.size == 2048 and cupy.pinned_bytes == 2048
    assert slot.input(1000).ctypes.data == first.ctypes.data and cupy.pinned_bytes == 2048  # reused
    assert slot.input(4096).size == 4096 and cupy.pinned_bytes == 2048 + 4096  # grown once
    assert slot.output(100).size == 100 and cupy.pinned_bytes == 2048 + 4096 + 100
