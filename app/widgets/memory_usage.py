"""What the memory bar draws, as plain data: per device, capacity and the parts that fill it. No Qt.

The recommendation view builds these from the engine's fit result; the bar only turns them into pixels,
using ``spans`` so the arithmetic (rounding, overflow past capacity) is tested without a screen.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from app.widgets.units import fmt_bytes


class Part(enum.Enum):
    """What a stretch of memory holds; values are the legend words."""

    WEIGHTS = "weights"
    KV = "KV cache"
    COMPUTE = "compute"
    OTHER = "other use"  # memory other programs hold (VRAM in use before loading, RAM not available)
    FREE = "free"


@dataclass(frozen=True, slots=True)
class DeviceUsage:
    """One bar: ``parts`` in drawing order, sized against ``capacity`` bytes.

    Attributes:
        label: "GPU 0: RTX 3060" or "RAM".
        capacity: total bytes of the device (the full width of the bar).
        parts: (part, bytes) in order; FREE is computed, never listed.
    """

    label: str
    capacity: int
    parts: tuple[tuple[Part, int], ...]

    @property
    def used(self) -> int:
        return sum(n for _, n in self.parts)

    @property
    def free(self) -> int:
        """Bytes left; negative when the parts need more than the device has."""
        return self.capacity - self.used

    @property
    def over(self) -> bool:
        return self.free < 0

    def summary(self) -> str:
        """One sentence for screen readers and tooltips."""
        pieces = [f"{part.value} {fmt_bytes(n)}" for part, n in self.parts if n > 0]
        tail = f"over by {fmt_bytes(-self.free)}" if self.over else f"free {fmt_bytes(self.free)}"
        return f"{self.label} ({fmt_bytes(self.capacity)}): " + ", ".join([*pieces, tail]) + "."


@dataclass(frozen=True, slots=True)
class Span:
    """A horizontal stretch of the bar in pixels, relative to the bar's left edge."""

    part: Part
    start: int
    width: int
    nbytes: int


def spans(usage: DeviceUsage, width: int) -> list[Span]:
    """Pixel stretches for each part and the free space, scaled so everything fits in ``width``.

    When the parts exceed the capacity, the scale is the total needed instead, so the overflow shows as
    the parts running past a capacity mark (see ``capacity_x``). Stretches never overlap and end at
    ``width`` exactly; a non-zero part is at least one pixel wide.
    """
    scale_bytes = max(usage.capacity, usage.used, 1)
    items = [(p, n) for p, n in usage.parts if n > 0]
    if usage.free > 0:
        items.append((Part.FREE, usage.free))
    result: list[Span] = []
    cumulative = 0
    x = 0
    for part, nbytes in items:
        cumulative += nbytes
        end = max(round(cumulative * width / scale_bytes), x + 1) if width > 0 else 0
        end = min(end, width)
        result.append(Span(part, x, end - x, nbytes))
        x = end
    if result and x < width:
        last = result[-1]
        result[-1] = Span(last.part, last.start, width - last.start, last.nbytes)
    return result


def capacity_x(usage: DeviceUsage, width: int) -> int | None:
    """Where the device's capacity ends on an overfull bar, else None."""
    if not usage.over or width <= 0:
        return None
    return round(usage.capacity * width / usage.used)


def legend(usages: Sequence[DeviceUsage]) -> list[Part]:
    """The parts that appear on any bar, in a fixed order."""
    present = {p for u in usages for p, n in u.parts if n > 0}
    if any(u.free > 0 for u in usages):
        present.add(Part.FREE)
    return [p for p in Part if p in present]
