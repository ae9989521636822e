"""Bar arithmetic: stretches fill the width exactly, overflow is shown against the capacity."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.widgets.memory_usage import DeviceUsage, Part, capacity_x, legend, spans

G = 1024**3


def test_spans_scale_to_capacity_and_add_free() -> None:
    u = DeviceUsage("GPU 0", 12 * G, ((Part.WEIGHTS, 6 * G), (Part.KV, 3 * G)))
    s = spans(u, 120)
    assert [(x.part, x.start, x.width) for x in s] == [(Part.WEIGHTS, 0, 60), (Part.KV, 60, 30), (Part.FREE, 90, 30)]
    assert u.free == 3 * G and not u.over
    assert capacity_x(u, 120) is None
    assert "free 3.0 GiB" in u.summary()


def test_overfull_bar_marks_the_capacity() -> None:
    u = DeviceUsage("RAM", 8 * G, ((Part.WEIGHTS, 10 * G), (Part.COMPUTE, 2 * G)))
    assert u.over
    assert capacity_x(u, 120) == 80
    assert [x.part for x in spans(u, 120)] == [Part.WEIGHTS, Part.COMPUTE]
    assert "over by 4.0 GiB" in u.summary()
    assert legend([u]) == [Part.WEIGHTS, Part.COMPUTE]


@given(st.lists(st.integers(0, 40 * G), max_size=4), st.integers(1, 64 * G), st.integers(1, 2000))
def test_spans_tile_the_bar(sizes: list[int], capacity: int, width: int) -> None:
    parts = tuple(zip([Part.WEIGHTS, Part.KV, Part.COMPUTE, Part.OTHER], sizes, strict=False))
    result = spans(DeviceUsage("d", capacity, parts), width)
    x = 0
    for s in result:
        assert s.start == x and s.width >= 0
        x += s.width
    assert x == (width if result else 0)
