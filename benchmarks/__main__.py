"""Run the benchmarks: ``python -m benchmarks [NAME ...]`` (all when no name is given)."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.cuda.is_available(), "python": platform.python_version(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def main(names: list[str]) -> None:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    unknown = set(names) - set(available)
    if unknown:
        raise SystemExit(f"Unknown benchmark(s) {sorted(unknown)}; available: {', '.join(available)}")
    (HERE / "results").mkdir(exist_ok=True)
    for name in names or available:
        print(f"benchmark {name} ...", flush=True)
        figures = importlib.import_module(f"benchmarks.bench_{name}").run()
        out = HERE / "results" / f"{name}.json"
        out.write_text(json.dumps({**figures, "machine": machine()}, indent=2) + "\n")
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
