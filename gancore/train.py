"""The one training loop for two-player GANs, used by every chapter.

One call of :func:`fit` trains a generator ``G`` and a discriminator ``D``:

* each **step** is one generator update opportunity; it draws ``d_steps`` real batches, the last of
  which is shared by both players (earlier ones update D alone, the WGAN ``n_critic`` habit);
* a **policy** decides who updates and in which order (:class:`Simultaneous`, :class:`Alternating`,
  or any object with the :class:`Policy` interface, e.g. the repeated-game rule of Babu et al.);
  *simultaneous* means both gradients are taken at the same point before either player moves;
* the players' optimizers are any ``torch.optim.Optimizer``; one that exposes ``extrapolation()``
  (extragradient) gets its second gradient at the extrapolated point, on a fresh batch;
* data order and noise are pure functions of ``(seed, batch index)``, so a run interrupted and
  resumed from its checkpoint ends bit for bit where an uninterrupted run ends (on CPU);
* a NaN/inf loss stops the run with :class:`TrainingDiverged`, naming the step; the last
  checkpoint on disk is the last good one (checkpoints are written atomically);
* ``members=K`` trains K independent copies at once (see :mod:`gancore.ensemble`): the data and
  noise then carry a leading member axis, each member with its own seed, and the losses are (K,)
  vectors whose sum is differentiated (each member's gradient is its own loss's gradient).

The models never call ``optimizer.step()``; the loop owns the update order.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import Dataset, TensorDataset

__all__ = [
    "fit", "TrainResult", "TrainingDiverged", "Policy", "Simultaneous", "Alternating", "POLICIES",
    "Batches", "Noise", "resolve_device", "seed_everything", "load_checkpoint", "seconds_per_step",
]


# --------------------------------------------------------------------------- devices and seeds

def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; anything else is passed to torch."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no GPU is visible: use device='auto' or 'cpu'.")
    return device


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA) for model initialisation; data order and noise in :func:`fit`
    have their own per-batch generators and do not depend on this."""
    torch.manual_seed(seed)


def _stream_seed(seed: int, stream: int, index: int) -> int:
    # distinct, reproducible generator seeds for (run seed, stream, index); stream 0 = data, 1 = noise
    return (seed * 1_000_003 + index) * 4 + stream + 12345


# --------------------------------------------------------------------------- data and noise

class Batches:
    """Deterministic mini-batches: epoch ``e`` of member ``k`` is the permutation drawn from
    ``(seeds[k], e)``; batch ``i`` is slice ``i mod (n // batch_size)`` of epoch ``i // (n // batch_size)``
    (the last incomplete batch of an epoch is dropped). ``seeds`` is one seed or one per member; with a
    list the batches get a leading member axis, (K, B, ...)."""

    def __init__(self, data: Dataset | torch.Tensor, batch_size: int, seeds: int | Sequence[int],
                 device: torch.device | str = "cpu"):
        if isinstance(data, TensorDataset):
            data = data.tensors[0]
        self.data = data
        self.n = len(data)
        if batch_size < 1 or batch_size > self.n:
            raise ValueError(f"Invalid batch size {batch_size} for a data set of {self.n} samples.")
        self.batch_size = batch_size
        self.members = None if isinstance(seeds, int) else len(seeds)
        self.seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        self.per_epoch = self.n // batch_size
        self.device = torch.device(device)
        self._epoch, self._perms = -1, None
        if isinstance(data, torch.Tensor):
            self.data = data.to(self.device)

    def _permutations(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            self._perms = torch.stack([
                torch.randperm(self.n, generator=torch.Generator().manual_seed(_stream_seed(s, 0, epoch)))
                for s in self.seeds])
            self._epoch = epoch
        return self._perms

    def __call__(self, index: int) -> torch.Tensor:
        epoch, i = divmod(index, self.per_epoch)
        idx = self._permutations(epoch)[:, i * self.batch_size:(i + 1) * self.batch_size]
        if isinstance(self.data, torch.Tensor):
            x = self.data[idx.to(self.device)]
        else:
            x = torch.stack([torch.stack([self.data[j][0] for j in row.tolist()]) for row in idx]).to(self.device)
        return x if self.members is not None else x[0]


class Noise:
    """Standard normal latent codes; the noise of batch ``index`` is drawn from ``(seed, index)``,
    on the CPU (so that it is the same on every device) and then moved."""

    def __init__(self, shape: Sequence[int], seeds: int | Sequence[int], device: torch.device | str = "cpu"):
        self.shape = tuple(shape)
        self.members = None if isinstance(seeds, int) else len(seeds)
        self.seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        self.device = torch.device(device)

    def __call__(self, index: int, batch_size: int) -> torch.Tensor:
        z = torch.stack([
            torch.randn(batch_size, *self.shape, generator=torch.Generator().manual_seed(_stream_seed(s, 1, index)))
            for s in self.seeds])
        z = z.to(self.device)
        return z if self.members is not None else z[0]


# --------------------------------------------------------------------------- who updates



class Policy(Protocol):
    """Who updates on a batch. ``simultaneous`` policies see both players' losses at the same point
    and return ``(update_D, update_G)``: bools, or (K,) bool tensors for per-member decisions.
    Non-simultaneous policies (alternating) let D move first and G then sees the new D."""

    name: str
    simultaneous: bool

    def decide(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor) -> tuple[Any, Any]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class _Stateless:
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def decide(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor) -> tuple[bool, bool]:
        return True, True


class Simultaneous(_Stateless):
    """Both players take a gradient at the same point, then both move (simultaneous GDA)."""

    name, simultaneous = "simultaneous", True


class Alternating(_Stateless):
    """D moves first; G's gradient is then taken through the updated D (the usual GAN loop)."""

    name, simultaneous = "alternating", False


def _cooperative() -> Policy:
    from .repeated import Cooperative  # lazy: gancore.repeated imports train

    return Cooperative()


POLICIES: dict[str, Callable[[], Policy]] = {"simultaneous": Simultaneous, "alternating": Alternating,
                                             "cooperative": _cooperative}


def _policy(policy: str | Policy) -> Policy:
    if isinstance(policy, str):
        if policy not in POLICIES:
            raise ValueError(f"Unknown policy {policy!r}. Known policies: {', '.join(POLICIES)} "
                             "(or pass an object with the gancore.train.Policy interface).")
        return POLICIES[policy]()
    return policy


# --------------------------------------------------------------------------- results and errors

class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; ``step`` is the step at which it happened and ``checkpoint``
    the last good checkpoint on disk (or None when the run kept none)."""

    def __init__(self, step: int, what: str, checkpoint: Path | None):
        self.step, self.checkpoint = step, checkpoint
        where = (f"The last good checkpoint is {checkpoint} (resume from it with a smaller learning rate)."
                 if checkpoint is not None and checkpoint.exists() else
                 "No checkpoint was kept: pass checkpoint=... and checkpoint_every=... to keep one.")
        super().__init__(f"Training diverged at step {step}: {what} is not finite. {where}")


@dataclass
class TrainResult:
    """What :func:`fit` returns: the loss log (one row per ``log_every`` steps), the evaluation log
    (one row per evaluation), the averaged generator if asked for, and counters."""

    log: pd.DataFrame
    evals: pd.DataFrame
    steps: int
    grad_evals: int
    seconds: float
    G_avg: AveragedModel | None = None
    updates: dict[str, torch.Tensor] = field(default_factory=dict)


# --------------------------------------------------------------------------- gradients and steps

def _params(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def _set_grads(params: list[nn.Parameter], loss: torch.Tensor, retain: bool) -> None:
    grads = torch.autograd.grad(loss.sum(), params, retain_graph=retain, allow_unused=True)
    for p, g in zip(params, grads):
        p.grad = torch.zeros_like(p) if g is None else g


def _masked_step(opt: torch.optim.Optimizer, update: Any) -> None:
    """``opt.step()`` if ``update`` is True; for a (K,) mask, step and then restore the parameters
    and the per-member optimizer state of the members whose entry is False (leading axis = member).
    Per-member state that the step creates is zero for frozen members (right for SGD momentum, Adam,
    RMSprop). Scalar state such as Adam's step count is shared by the members and does advance.
    The restore is one multi-tensor ``lerp`` with weight 1 (frozen) or 0 (stepped) per member, which
    returns exactly the saved or the stepped value."""
    if isinstance(update, bool) or update.dim() == 0:
        if bool(update):
            opt.step()
        return
    if bool(update.all()):
        opt.step()
        return
    if not bool(update.any()):
        return
    K = update.shape[0]

    def per_member(p: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v for k, v in opt.state[p].items() if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == K}

    params = [p for group in opt.param_groups for p in group["params"]]
    saved = [(p.detach().clone(), {k: v.clone() for k, v in per_member(p).items()}) for p in params]
    if not all(t.is_floating_point() for old, state in saved for t in (old, *state.values())):
        raise TypeError(f"{type(opt).__name__} keeps non-floating per-member state; a per-member mask "
                        "can only restore floating-point parameters and state.")
    opt.step()
    current, before = [], []
    for p, (old, state) in zip(params, saved):
        current.append(p.detach())
        before.append(old)
        for k, v in per_member(p).items():
            current.append(v)
            # state this step created (lazy initialisation) starts at zero for the frozen members,
            # as the moment buffers of SGD, Adam and RMSprop do
            before.append(state[k] if k in state else torch.zeros_like(v))
    frozen = (~update).to(current[0].device)
    weights = [frozen.to(t.dtype).view(-1, *[1] * (t.dim() - 1)) for t in current]
    with torch.no_grad():
        torch._foreach_lerp_(current, before, weights)


def _check_finite(step: int, checkpoint: Path | None, **losses: torch.Tensor) -> None:
    for name, value in losses.items():
        if not bool(torch.isfinite(value).all()):
            raise TrainingDiverged(step, name, checkpoint)


def _two_phase(opt: torch.optim.Optimizer) -> bool:
    return callable(getattr(opt, "extrapolation", None))


# --------------------------------------------------------------------------- checkpoints

def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interrupted write never replaces the last good checkpoint


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`fit` (a dict: models, optimizers, policy, counters,
    logs and the run's ``config``)."""
    return torch.load(Path(path), map_location=map_location, weights_only=False)


# --------------------------------------------------------------------------- the loop

def fit(
    G: nn.Module,
    D: nn.Module,
    data: Dataset | torch.Tensor,
    *,
    loss: Any,
    opt_G: torch.optim.Optimizer,
    opt_D: torch.optim.Optimizer,
    steps: int,
    batch_size: int,
    latent_dim: int | Sequence[int],
    policy: str | Policy = "simultaneous",
    d_steps: int = 1,
    seed: int | Sequence[int] = 0,
    device: str | torch.device = "auto",
    evaluate: Callable[[int, nn.Module, nn.Module], dict] | None = None,
    eval_every: int = 0,
    log_every: int = 1,
    projection_D: Callable[[nn.Module], None] | None = None,
    penalty_D: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    penalty_G: Callable[[nn.Module], torch.Tensor] | None = None,
    average_G: str | None = None,
    ema_decay: float = 0.999,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = True,
    config: dict | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``G`` against ``D`` for ``steps`` steps and return a :class:`TrainResult`.

    ``loss`` has ``d(real_logits, fake_logits)`` and ``g(fake_logits)`` (see
    :func:`gancore.losses.gan_loss`); ``penalty_D(D, real, fake)`` and ``penalty_G(G)`` are added to
    the players' losses (gradient penalty, EWC, ...). ``projection_D(D)`` runs after every D update
    (WGAN weight clipping). ``average_G`` is ``"uniform"`` (ergodic average of the iterates) or
    ``"ema"`` (decay ``ema_decay``), kept with :class:`torch.optim.swa_utils.AveragedModel`.
    ``evaluate(step, G, D) -> dict`` runs every ``eval_every`` steps and at the end (and at step 0).
    ``checkpoint`` is a file; with ``checkpoint_every > 0`` it is written every that many steps and at
    the end, and with ``resume=True`` an existing one is continued if its ``config`` matches.
    """
    if steps < 0 or d_steps < 1 or log_every < 1:
        raise ValueError(f"Invalid loop sizes: steps={steps}, d_steps={d_steps}, log_every={log_every}.")
    if average_G not in (None, "uniform", "ema"):
        raise ValueError(f"Invalid average_G {average_G!r}: use None, 'uniform' or 'ema'.")
    policy = _policy(policy)
    two_phase = _two_phase(opt_G), _two_phase(opt_D)
    if any(two_phase) and not (all(two_phase) and isinstance(policy, Simultaneous) and d_steps == 1):
        raise ValueError("Extrapolation solvers need both players to use one, policy='simultaneous' and "
                         "d_steps=1 (extragradient evaluates both players at the extrapolated point and "
                         "both must complete the step).")
    device = resolve_device(device)
    G.to(device), D.to(device)
    latent = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
    batches = Batches(data, batch_size, seed, device)
    noise = Noise(latent, seed, device)
    members = batches.members
    run_config = dict(config or {}, batch_size=batch_size, d_steps=d_steps, latent_dim=list(latent),
                      seed=seed if isinstance(seed, int) else list(seed), policy=policy.name,
                      loss=getattr(loss, "name", type(loss).__name__), average_G=average_G)
    G_avg = None
    if average_G is not None:
        G_avg = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(ema_decay) if average_G == "ema" else None,
                              use_buffers=True)
    D_params, G_params = _params(D), _params(G)
    ones = torch.ones(members, dtype=torch.long) if members else torch.ones((), dtype=torch.long)
    counts = {"D": torch.zeros_like(ones), "G": torch.zeros_like(ones)}
    log_rows: list[dict] = []
    eval_rows: list[dict] = []
    step, index, grad_evals, elapsed = 0, 0, 0, 0.0

    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=device)
        if state["config"] != run_config:
            diff = {k: (state["config"].get(k), run_config.get(k))
                    for k in set(state["config"]) | set(run_config) if state["config"].get(k) != run_config.get(k)}
            raise ValueError(f"Checkpoint {ckpt_path} was written by a run with other parameters "
                             f"(checkpoint vs now: {diff}); use another checkpoint path or resume=False.")
        G.load_state_dict(state["G"]), D.load_state_dict(state["D"])
        opt_G.load_state_dict(state["opt_G"]), opt_D.load_state_dict(state["opt_D"])
        policy.load_state_dict(state["policy"])
        if G_avg is not None:
            G_avg.load_state_dict(state["G_avg"])
        step, index, grad_evals, elapsed = state["step"], state["index"], state["grad_evals"], state["seconds"]
        counts, log_rows, eval_rows = state["counts"], state["log"], state["evals"]

    def checkpoint_state() -> dict:
        return {"G": G.state_dict(), "D": D.state_dict(), "opt_G": opt_G.state_dict(),
                "opt_D": opt_D.state_dict(), "policy": policy.state_dict(),
                "G_avg": G_avg.state_dict() if G_avg is not None else None, "step": step, "index": index,
                "grad_evals": grad_evals, "seconds": elapsed, "counts": counts, "log": log_rows,
                "evals": eval_rows, "config": run_config}

    def run_eval() -> None:
        if evaluate is None or any(r["step"] == step for r in eval_rows):
            return
        G.eval(), D.eval()
        with torch.no_grad():
            row = {"step": step, "grad_evals": grad_evals, "seconds": elapsed, **evaluate(step, G, D)}
        G.train(), D.train()
        eval_rows.append(row)

    def grads_at_current_point(real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fake = G(z)
        fake_logits = D(fake)
        d_loss = loss.d(D(real), fake_logits)
        g_loss = loss.g(fake_logits)
        d_total = d_loss if penalty_D is None else d_loss + penalty_D(D, real, fake.detach())
        g_total = g_loss if penalty_G is None else g_loss + penalty_G(G)
        _check_finite(step, ckpt_path, d_loss=d_total, g_loss=g_total)
        _set_grads(D_params, d_total, retain=True)
        _set_grads(G_params, g_total, retain=False)
        return d_loss.detach(), g_loss.detach()

    def d_only_update(real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fake = G(z)
        d_loss = loss.d(D(real), D(fake))
        d_total = d_loss if penalty_D is None else d_loss + penalty_D(D, real, fake)
        _check_finite(step, ckpt_path, d_loss=d_total)
        _set_grads(D_params, d_total, retain=False)
        opt_D.step()
        if projection_D is not None:
            projection_D(D)
        return d_loss.detach()

    run_eval()
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=step, desc="fit", leave=False)
    G.train(), D.train()
    while step < steps:
        t0 = time.perf_counter()
        for _ in range(d_steps - 1):
            d_only_update(batches(index), noise(index, batch_size))
            index += 1
            grad_evals += 1
        real, z = batches(index), noise(index, batch_size)
        index += 1
        if policy.simultaneous:
            d_loss, g_loss = grads_at_current_point(real, z)
            grad_evals += 1
            update_D, update_G = policy.decide(step, d_loss, g_loss)
            if all(two_phase):
                opt_D.extrapolation(), opt_G.extrapolation()
                real2, z2 = batches(index), noise(index, batch_size)
                index += 1
                grads_at_current_point(real2, z2)
                grad_evals += 1
            _masked_step(opt_D, update_D)
            _masked_step(opt_G, update_G)
            if projection_D is not None:
                projection_D(D)
        else:
            d_loss = d_only_update(real, z)
            fake_logits = D(G(z))
            g_loss = loss.g(fake_logits)
            g_total = g_loss if penalty_G is None else g_loss + penalty_G(G)
            _check_finite(step, ckpt_path, g_loss=g_total)
            _set_grads(G_params, g_total, retain=False)
            opt_G.step()
            g_loss = g_loss.detach()
            grad_evals += 1
            update_D = update_G = True
        if G_avg is not None:
            G_avg.update_parameters(G)
        counts["D"] += torch.as_tensor(update_D, dtype=torch.long)
        counts["G"] += torch.as_tensor(update_G, dtype=torch.long)
        step += 1
        elapsed += time.perf_counter() - t0
        if step % log_every == 0 or step == steps:
            log_rows.append({"step": step, "d_loss": d_loss.float().mean().item(),
                             "g_loss": g_loss.float().mean().item(),
                             "update_D": torch.as_tensor(update_D, dtype=torch.float).mean().item(),
                             "update_G": torch.as_tensor(update_G, dtype=torch.float).mean().item(),
                             "grad_evals": grad_evals, "seconds": elapsed})
        if ckpt_path is not None and checkpoint_every and (step % checkpoint_every == 0 or step == steps):
            _save_checkpoint(ckpt_path, checkpoint_state())
        if eval_every and step % eval_every == 0:
            run_eval()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(d=f"{log_rows[-1]['d_loss']:.3f}", g=f"{log_rows[-1]['g_loss']:.3f}", refresh=False)
    if bar is not None:
        bar.close()
    run_eval()
    return TrainResult(log=pd.DataFrame(log_rows), evals=pd.DataFrame(eval_rows), steps=step,
                       grad_evals=grad_evals, seconds=elapsed, G_avg=G_avg, updates=counts)


def seconds_per_step(run: Callable[[int], TrainResult], short: int = 5, long: int = 25, tries: int = 2) -> float:
    """Wall-clock seconds of one training step in steady state. ``run(steps)`` trains a fresh model
    for ``steps`` steps and returns its :class:`TrainResult`; the answer is (time of a ``long`` run -
    time of a ``short`` run) / (long - short), each the best of ``tries`` runs, so that set-up and the
    first steps (page faults on fresh buffers, about twice a later step's time) are not counted."""
    if not 0 < short < long or tries < 1:
        raise ValueError(f"Invalid timing: short={short}, long={long}, tries={tries}; "
                         "use 0 < short < long and tries >= 1.")
    best = {n: min(run(n).seconds for _ in range(tries)) for n in (short, long)}
    return (best[long] - best[short]) / (long - short)
