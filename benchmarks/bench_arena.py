"""Arena benchmark: the arena chapter's wall time in the quick profile.

* ``arena_quick_seconds``: wall time of executing the arena chapter (``book/arena.md``) in the quick
  profile with papermill, into a temporary file (the committed notebook is not touched). Issue 14 asks
  for about 5 minutes on this 2-core machine: target 300 s.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from gancore import runs

TARGET = 300


def run() -> dict:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        runs.execute("arena", "quick", "cpu", output=Path(tmp) / "arena.ipynb")
        seconds = time.perf_counter() - t0
    return {
        "arena_quick_seconds": round(seconds, 1), "arena_quick_seconds_target": TARGET,
        "arena_quick_seconds_met": seconds <= TARGET,
        "note": "measured on a shared 2-core machine; load_average is the 1-minute load before and after",
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }
