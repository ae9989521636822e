"""TransferMeter arithmetic (bytes, rate, ETA), cancellation forms, and the tqdm hook."""

from __future__ import annotations

import threading

import pytest

from engine.errors import CancelledError
from engine.hub.progress import TransferMeter, cancel_check, hook_tqdm
from engine.progress import CancelToken, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_and_eta_count_only_bytes_moved_in_this_session() -> None:
    seen: list[Progress] = []
    clock = Clock()
    meter = TransferMeter(1000, seen.append, clock)
    meter.begin_file("a.gguf (1/1)")
    meter.start_transfer(initial=400)  # resumed: 400 bytes already on disk
    clock.now += 2.0
    meter.advance(200)
    last = seen[-1]
    assert (last.done, last.total, last.current) == (600, 1000, "a.gguf (1/1)")
    assert last.rate == pytest.approx(100.0)  # 200 bytes in 2 s, not 600
    assert last.eta_s == pytest.approx(4.0)
    meter.end_file(1000)
    assert seen[-1].done == 1000 and seen[-1].eta_s == 0.0


def test_eta_is_unknown_until_bytes_flow_and_files_accumulate() -> None:
    seen: list[Progress] = []
    meter = TransferMeter(30, seen.append, Clock())
    meter.begin_file("one")
    meter.start_transfer(0)
    assert seen[-1].eta_s is None and seen[-1].rate == 0.0
    meter.end_file(10)
    meter.begin_file("two")
    meter.start_transfer(5)
    assert seen[-1].done == 15


def test_cancel_accepts_a_token_an_event_a_callable_or_nothing() -> None:
    token, event, flag = CancelToken(), threading.Event(), {"stop": False}
    checks = [cancel_check(token), cancel_check(event), cancel_check(lambda: flag["stop"]), cancel_check(None)]
    assert not any(c() for c in checks)
    token.cancel()
    event.set()
    flag["stop"] = True
    assert [c() for c in checks] == [True, True, True, False]


def test_the_tqdm_hook_reports_without_drawing_and_raises_on_cancel(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[Progress] = []
    stop = threading.Event()
    meter = TransferMeter(100, seen.append, Clock())
    bar_class = hook_tqdm(meter, stop.is_set)
    bar = bar_class(total=100, initial=10, desc="x", unit="B")
    bar.update(30)
    assert seen[-1].done == 40
    stop.set()
    with pytest.raises(CancelledError, match="cancelled"):
        bar.update(30)
    assert seen[-1].done == 40  # the refused chunk is not counted
    bar.close()
    assert capsys.readouterr().err == ""
    with pytest.raises(CancelledError):
        bar_class(total=10)  # a transfer that has not started yet stops at once too
