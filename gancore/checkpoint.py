"""A training run's checkpoint: what the run was, and its state, written and read back safely.

:func:`gancore.train.fit` keeps its state in one file, written by :func:`save_checkpoint` through
:func:`gancore.storage.save_torch` (atomic, checksummed) and read by :func:`load_checkpoint` through
:func:`gancore.storage.load_torch` (checksum checked, ``weights_only=True``: no code from the file runs).
The file holds the models, optimizers, policy state, counters, logs and RNG state, and the run's
*record* (its ``config``): loss and options, policy and options, each optimizer's class and
hyperparameters, the data's size and shape, batch sizes, seeds, penalties. A resume compares the two
records with :func:`check_same_run` and names every difference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import storage

__all__ = ["load_checkpoint", "save_checkpoint", "restore_rng", "check_same_run", "plain", "name_of",
           "optimizer_record", "first_nonfinite"]

FORMAT = "gancore.train checkpoint 2"
_KEYS = ("format", "config", "G", "D", "opt_G", "opt_D", "policy", "G_avg", "step", "index", "grad_evals",
         "seconds", "counts", "log", "evals", "rng")
_ADVICE = ("Delete it, or call fit with resume=False (start over; this run then overwrites it at its first "
           "checkpoint) or with another checkpoint= path.")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`gancore.train.fit`: a dict with the models (``G``, ``D``),
    optimizers, ``policy`` state, ``step`` and other counters, ``log``, ``evals``, ``rng`` and the run's
    ``config``. A file that is not an intact checkpoint raises :class:`gancore.storage.CorruptFileError`
    naming it (a missing one ``FileNotFoundError``)."""
    path = Path(path)
    try:
        state = storage.load_torch(path, map_location=map_location)
    except storage.CorruptFileError as e:
        raise storage.CorruptFileError(path, e.reason, _ADVICE) from e
    if not isinstance(state, dict) or state.get("format") != FORMAT or not set(_KEYS) <= set(state):
        raise storage.CorruptFileError(path, f"it is a gancore file but not a {FORMAT} (written by another "
                                       "function or another gancore version)", _ADVICE)
    return state


def save_checkpoint(state: dict, path: Path, device: torch.device) -> None:
    """Write ``state`` (every key of a checkpoint but ``format`` and ``rng``) atomically, with torch's
    global RNG state on the CPU and on ``device``."""
    rng = {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    storage.save_torch({"format": FORMAT, **state, "rng": rng}, path)


def restore_rng(rng: dict, device: torch.device) -> None:
    """Set torch's global RNG state to the one a checkpoint saved."""
    torch.set_rng_state(rng["cpu"].cpu())
    if rng["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"].cpu(), device)


def plain(value: Any, where: str, keep_tensors: bool) -> Any:
    """``value`` made storable under ``weights_only=True``: numbers, strings, None, containers and
    (``keep_tensors``) tensors; NumPy values become Python numbers or tensors. Without
    ``keep_tensors`` tensors and arrays become lists and tuples lists, so that two records compare.
    Anything else is a ``TypeError`` naming ``where`` (at the first checkpoint, not at resume)."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass torch will not load
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.ndarray, torch.Tensor)):
        if not keep_tensors:
            return value.tolist()
        return torch.from_numpy(value.copy()) if isinstance(value, np.ndarray) else value
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v, f"{where}[{k!r}]", keep_tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(v, f"{where}[{i}]", keep_tensors) for i, v in enumerate(value)]
        return tuple(items) if keep_tensors and isinstance(value, tuple) else items
    raise TypeError(f"{where} is a {type(value).__name__}, which a checkpoint cannot hold: use numbers, "
                    "strings, lists, dicts or tensors.")


def name_of(f: Callable | None) -> str | None:
    """How a record names a penalty or projection function (None when there is none)."""
    return None if f is None else getattr(f, "__qualname__", type(f).__qualname__)


def optimizer_record(opt: torch.optim.Optimizer, where: str) -> dict:
    """The optimizer's class and the hyperparameters of each parameter group (lr, betas, momentum,
    delta, ...), from ``state_dict()`` (so without what a solver leaves out of it, e.g. projections)."""
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.state_dict()["param_groups"]]
    return {"class": type(opt).__name__, "param_groups": plain(groups, where, keep_tensors=False)}


def check_same_run(path: Path, old: dict, new: dict, new_lr: bool) -> None:
    """``ValueError`` naming every difference between the record ``old`` of the checkpoint at
    ``path`` and the record ``new`` of this run; with ``new_lr`` the learning rates are not compared."""
    if new_lr:
        old, new = _without_lr(old), _without_lr(new)
    found = _differences(old, new)
    if found:
        hint = (" To continue with new learning rates on purpose, pass resume='new_lr'."
                if any(line.split(":")[0].endswith(".lr") for line in found) else "")
        raise ValueError(f"Checkpoint {path} was written by a run with other parameters: {'; '.join(found)}. "
                         "Use another checkpoint path, or resume=False to start over (the file is then "
                         f"overwritten at this run's first checkpoint).{hint}")


def _without_lr(record: dict) -> dict:
    optimizers = {k: {**record[k], "param_groups": [{n: v for n, v in g.items() if n != "lr"}
                                                     for g in record[k]["param_groups"]]}
                  for k in ("opt_G", "opt_D") if isinstance(record.get(k), dict)}
    return {**record, **optimizers}


_ABSENT = object()


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """``where: old ... vs new ...`` for every leaf at which two records differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        return [line for k in keys
                for line in _differences(old.get(k, _ABSENT), new.get(k, _ABSENT), f"{where}.{k}" if where else str(k))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and old != new \
            and any(isinstance(v, (dict, list)) for v in old + new):
        return [line for i, (a, b) in enumerate(zip(old, new)) for line in _differences(a, b, f"{where}[{i}]")]
    if old == new:
        return []
    return [f"{where}: {_show(old)} in the checkpoint vs {_show(new)} now"]


def _show(value: Any) -> str:
    return "absent" if value is _ABSENT else repr(value)


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    floats = [t for t in tensors if t.is_floating_point() or t.is_complex()]
    return not floats or bool(torch.stack([torch.isfinite(t).all() for t in floats]).all())


def first_nonfinite(modules: dict[str, nn.Module | None], optimizers: dict[str, torch.optim.Optimizer]) -> str | None:
    """What holds a NaN or inf among the modules' parameters and buffers and the optimizers' state
    (checked before a checkpoint is written), or None when everything is finite."""
    for name, module in modules.items():
        if module is not None and not _all_finite(list(module.state_dict().values())):
            return f"a parameter or buffer of {name}"
    for name, opt in optimizers.items():
        if not _all_finite([v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]):
            return f"the state of {name}"
    return None
