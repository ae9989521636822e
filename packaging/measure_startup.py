"""Measure start-up to the first painted window, from the frozen bundle and from source, a few times each.

    python packaging/measure_startup.py [--bundle dist/quantpick/quantpick] [--runs 5]

Each run is a fresh process with the start-up probe armed (app/startup_probe.py), offscreen, with its
own empty home folder (first start: no settings, no caches). Reports, per way of starting, the probe's
time from process start to the first painted frame, the outer wall time until the process is gone, and
its CPU time (median, min, max each), plus the load average: on a shared machine load moves the first
two, while CPU time shows what an idle machine would see.

From source, bytecode is cached in build/pycache (PYTHONPYCACHEPREFIX, even when the environment sets
PYTHONDONTWRITEBYTECODE): a pip install compiles it at install time, so that is what users get. The
bundle carries its bytecode already.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE_LINE = re.compile(r"^quantpick-startup first_paint_s=([0-9.]+)$", re.MULTILINE)


def fresh_env(home: Path) -> dict[str, str]:
    """Offscreen, probe armed, settings and caches under ``home``, Hub offline."""
    env = dict(os.environ)
    env.update({
        "HOME": str(home), "USERPROFILE": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CACHE_HOME": str(home / ".cache"),
        "APPDATA": str(home / "Roaming"), "LOCALAPPDATA": str(home / "Local"), "HF_HOME": str(home / "hf"),
        "HF_HUB_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen", "QUANTPICK_STARTUP_PROBE": "1",
    })
    return env


def _children_cpu_s() -> float:
    """CPU seconds (user + system) used so far by finished child processes; 0 where unknown (Windows)."""
    try:
        import resource
    except ImportError:
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(command: list[str], extra_env: dict[str, str]) -> tuple[float, float, float]:
    """(first paint as the probe saw it, outer wall time, CPU time) for one fresh start, in seconds.

    CPU time barely moves with the machine's load, so it tells what an idle machine would see.
    """
    with tempfile.TemporaryDirectory(prefix="quantpick-startup-") as home:
        env = {**fresh_env(Path(home)), **extra_env}
        if "PYTHONPYCACHEPREFIX" in extra_env:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        cpu_before, started = _children_cpu_s(), time.monotonic()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
        wall, cpu = time.monotonic() - started, _children_cpu_s() - cpu_before
    match = PROBE_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"measure_startup: {' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return float(match.group(1)), wall, cpu


def summary(label: str, samples: list[tuple[float, float, float]]) -> str:
    """One line: median (min-max) of each number."""
    parts = []
    for index, name in enumerate(("first paint", "process wall", "process CPU")):
        values = [s[index] for s in samples]
        parts.append(f"{name} {statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})")
    return f"{label:<8} " + ", ".join(parts) + f", n={len(samples)}"


def main(argv: list[str] | None = None) -> int:
    """Measure and print; one warm-up start per way is not counted (it fills the OS and bytecode caches)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "quantpick" / "quantpick")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    source_env = {"PYTHONPYCACHEPREFIX": str(ROOT / "build" / "pycache")}
    ways = {"source": ([sys.executable, "-m", "app.startup_probe"], source_env)}
    if args.bundle.is_file():
        ways = {"bundle": ([str(args.bundle)], {}), **ways}
    else:
        print(f"measure_startup: no bundle at {args.bundle}; measuring from source only")
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    samples: dict[str, list[tuple[float, float, float]]] = {label: [] for label in ways}
    for label, (command, extra_env) in ways.items():
        run_once(command, extra_env)
    for _ in range(args.runs):  # interleaved, so a burst of load elsewhere hits both ways alike
        for label, (command, extra_env) in ways.items():
            samples[label].append(run_once(command, extra_env))
    for label, values in samples.items():
        print(summary(label, values))
    if load_before is not None:
        print(f"load average before: {load_before[0]:.2f}, after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
