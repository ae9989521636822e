"""The script PyInstaller freezes: the same ``quantpick`` entry point a pip install gets (app.launcher).

No arguments opens the window, a command runs headless. With QUANTPICK_STARTUP_PROBE set and no
arguments, the window opens with the start-up probe armed (app/startup_probe.py): it prints the seconds
to the first painted frame and quits, which is how the bundle's start-up time is measured.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    """Run Quantpick; return the exit status."""
    if len(sys.argv) == 1 and os.environ.get("QUANTPICK_STARTUP_PROBE", "") not in ("", "0"):
        from app.startup_probe import main as probe_main

        return probe_main()
    from app.launcher import main as launcher_main

    return launcher_main()


if __name__ == "__main__":
    sys.exit(main())
