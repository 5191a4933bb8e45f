"""The one training loop for two-player GANs, used by every chapter.

One call of :func:`fit` trains a generator ``G`` and a discriminator ``D``:

* each **step** is one generator update opportunity; it draws ``d_steps`` real batches, the last of
  which is shared by both players (earlier ones update D alone, the WGAN ``n_critic`` habit);
* a **policy** decides who updates and in which order: :class:`Simultaneous`, :class:`Alternating`,
  :class:`OnlyOne`, or any object with the :class:`Policy` interface (the repeated-game rule of Babu
  et al. is :class:`gancore.repeated.Cooperative`); *simultaneous* means both gradients are taken at
  the same point before either player moves;
* the players' optimizers are any ``torch.optim.Optimizer``; one that exposes ``extrapolation()``
  (extragradient) gets its second gradient at the extrapolated point, on a fresh batch;
* ``members=K`` trains K independent copies at once (see :mod:`gancore.ensemble`): the data and
  noise then carry a leading member axis, each member with its own seed, and the losses are (K,)
  vectors whose sum is differentiated (each member's gradient is its own loss's gradient).

The models never call ``optimizer.step()``; the loop owns the update order.

What is guaranteed (details in :mod:`gancore.checkpoint` and :mod:`gancore.streams`):

* **Resume.** Data order, noise and the generator handed to ``penalty_D`` are pure functions of
  ``(seed, batch index)``, and torch's global RNG state is saved with the checkpoint: a run interrupted
  and resumed ends bit for bit where the uninterrupted run ends (same device and library versions).
* **Integrity.** Checkpoints are written atomically with a checksum and read with ``weights_only=True``
  (no code in the file ever runs); a truncated, empty, modified or foreign file at the checkpoint path
  gives one :class:`gancore.storage.CorruptFileError` naming it.
* **Same run.** A checkpoint records what the run was (loss, policy, optimizers and their options,
  data, sizes, seeds, penalties); resuming with anything different is a ``ValueError`` naming each
  difference. ``resume="new_lr"`` continues with the learning rates of the optimizers passed in.
* **Divergence.** A non-finite loss, or non-finite parameters or optimizer state when a checkpoint is
  due, raise :class:`TrainingDiverged`; nothing non-finite is written, and the error names a checkpoint
  only if this run wrote it or resumed from it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence

import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import Dataset
from tqdm import tqdm  # the text bar: tqdm.auto warns in kernels without ipywidgets

from . import meter
from .checkpoint import (check_same_run, first_nonfinite, load_checkpoint, name_of, optimizer_record, plain,
                         restore_rng, save_checkpoint)
from .streams import Batches, Noise, penalty_generator

__all__ = [
    "fit", "TrainResult", "TrainingDiverged", "Policy", "Simultaneous", "Alternating", "OnlyOne", "POLICIES",
    "Batches", "Noise", "penalty_generator", "resolve_device", "seed_everything", "load_checkpoint", "seconds_per_step",
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


# --------------------------------------------------------------------------- who updates

class Policy(Protocol):
    """Who updates on a batch. ``simultaneous`` policies see both players' losses at the same point
    and return ``(update_D, update_G)``: bools, or (K,) bool tensors for per-member decisions.
    Non-simultaneous policies (alternating) let D move first and G then sees the new D. A policy may
    carry an ``options`` dict (recorded in checkpoints, so that a resume with other options is
    refused); its ``state_dict()`` must hold only tensors, numbers, strings and containers."""

    name: str
    simultaneous: bool

    def decide(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor) -> tuple[Any, Any]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


class _Stateless:
    options: dict = {}

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


class OnlyOne(_Stateless):
    """Only ``player`` ("G" or "D") ever updates (a double-oracle best response against a fixed
    opponent). Simultaneous (both gradients at the same point), so the fixed opponent's optimizer
    never steps."""

    simultaneous = True

    def __init__(self, player: str) -> None:
        if player not in ("G", "D"):
            raise ValueError(f"Unknown player {player!r}; known players: G, D")
        self.player = player
        self.name = f"only_{player}"

    def decide(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor) -> tuple[bool, bool]:
        return self.player == "D", self.player == "G"


POLICIES: dict[str, Callable[[], Policy]] = {"simultaneous": Simultaneous, "alternating": Alternating}


def _policy(policy: str | Policy) -> Policy:
    if isinstance(policy, str):
        if policy not in POLICIES:
            raise ValueError(f"Unknown policy {policy!r}. Known policy names: {', '.join(POLICIES)}; pass "
                             "any other policy as an object, e.g. gancore.train.OnlyOne('G') or "
                             "gancore.repeated.cooperative(loss) (the cooperative policy).")
        return POLICIES[policy]()
    return policy


# --------------------------------------------------------------------------- results and errors

class TrainingDiverged(RuntimeError):
    """A loss, or the parameters or optimizer state when a checkpoint was due, became NaN or
    infinite. ``step`` is the step at which it happened and ``checkpoint`` the last good checkpoint
    that THIS run wrote or resumed from (None when there is none: a file left at the path by an
    earlier run is never called good)."""

    def __init__(self, step: int, what: str, checkpoint: Path | None, checkpoint_step: int | None = None):
        self.step, self.checkpoint = step, checkpoint
        if checkpoint is None:
            where = "No checkpoint of this run was kept: pass checkpoint=... and checkpoint_every=... to keep one."
        else:
            where = (f"The last good checkpoint is {checkpoint} (step {checkpoint_step}). To continue from it "
                     "with a smaller learning rate, build the optimizers with that learning rate and call "
                     "fit(..., resume='new_lr'); resume=True would restore the checkpoint's learning rate.")
        super().__init__(f"Training diverged at step {step}: {what} is not finite (NaN or inf). {where}")


@dataclass
class TrainResult:
    """What :func:`fit` returns: the loss log (one row per ``log_every`` steps), the evaluation log
    (one row per evaluation), the averaged generator if asked for, and counters (``updates``: how
    often each player stepped, per member for an ensemble). A resumed run returns the same logs and
    counters as the uninterrupted run (``seconds`` aside: wall-clock time)."""

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


def _two_phase(opt: torch.optim.Optimizer) -> bool:
    return callable(getattr(opt, "extrapolation", None))


# --------------------------------------------------------------------------- the loop

class _Run:
    """The state of one :func:`fit` call and the pieces of a step (private; :func:`fit` tells the story)."""

    def __init__(self, G: nn.Module, D: nn.Module, loss: Any, opt_G: torch.optim.Optimizer,
                 opt_D: torch.optim.Optimizer, policy: Policy, batches: Batches, noise: Noise, *, seed: Any,
                 batch_size: int, d_steps: int, evaluate: Callable | None, projection_D: Callable | None,
                 penalty_D: Callable | None, penalty_G: Callable | None, G_avg: AveragedModel | None,
                 device: torch.device):
        self.G, self.D, self.loss, self.opt_G, self.opt_D, self.policy = G, D, loss, opt_G, opt_D, policy
        self.batches, self.noise, self.seed, self.batch_size, self.d_steps = batches, noise, seed, batch_size, d_steps
        self.evaluate, self.projection_D, self.penalty_D, self.penalty_G = evaluate, projection_D, penalty_D, penalty_G
        self.G_avg, self.device = G_avg, device
        self.extragradient = _two_phase(opt_G) and _two_phase(opt_D)
        self.D_params, self.G_params = _params(D), _params(G)
        ones = torch.ones(batches.members, dtype=torch.long) if batches.members else torch.ones((), dtype=torch.long)
        self.counts = {"D": torch.zeros_like(ones), "G": torch.zeros_like(ones)}
        self.log_rows: list[dict] = []
        self.eval_rows: list[dict] = []
        self.step, self.index, self.grad_evals, self.elapsed = 0, 0, 0, 0.0
        self.last: tuple = ()  # (d_loss, g_loss, update_D, update_G) of the latest step
        self.good: tuple[Path, int] | None = None  # the last checkpoint this run wrote or resumed from

    # ------------------------------------------------------------------ one step
    def _draw(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        index = self.index
        self.index += 1
        return self.batches(index), self.noise(index, self.batch_size), index

    def _diverged(self, what: str) -> TrainingDiverged:
        path, at = self.good if self.good is not None else (None, None)
        return TrainingDiverged(self.step, what, path, at)

    def _check_finite(self, **losses: torch.Tensor) -> None:
        for name, value in losses.items():
            if not bool(torch.isfinite(value).all()):
                raise self._diverged(name)

    def _d_total(self, d_loss: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, index: int) -> torch.Tensor:
        if self.penalty_D is None:
            return d_loss
        return d_loss + self.penalty_D(self.D, real, fake, penalty_generator(self.seed, index))

    def _g_total(self, g_loss: torch.Tensor) -> torch.Tensor:
        return g_loss if self.penalty_G is None else g_loss + self.penalty_G(self.G)

    def grads_at_current_point(self, real: torch.Tensor, z: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Both players' gradients at the current point into ``.grad``; returns the detached losses."""
        fake = self.G(z)
        fake_logits = self.D(fake)
        d_loss = self.loss.d(self.D(real), fake_logits)
        g_loss = self.loss.g(fake_logits)
        d_total, g_total = self._d_total(d_loss, real, fake.detach(), index), self._g_total(g_loss)
        self._check_finite(d_loss=d_total, g_loss=g_total)
        _set_grads(self.D_params, d_total, retain=True)
        _set_grads(self.G_params, g_total, retain=False)
        self.grad_evals += 1
        return d_loss.detach(), g_loss.detach()

    def d_only_update(self, real: torch.Tensor, z: torch.Tensor, index: int) -> torch.Tensor:
        """One step of D alone against G's current samples (the ``d_steps - 1`` extra critic steps and
        the first half of an alternating step)."""
        with torch.no_grad():
            fake = self.G(z)
        d_loss = self.loss.d(self.D(real), self.D(fake))
        d_total = self._d_total(d_loss, real, fake, index)
        self._check_finite(d_loss=d_total)
        _set_grads(self.D_params, d_total, retain=False)
        self.opt_D.step()
        if self.projection_D is not None:
            self.projection_D(self.D)
        return d_loss.detach()

    def simultaneous_step(self) -> tuple:
        """Both gradients at one point, the policy decides, both (masked) steps; with extragradient
        solvers the second gradient is taken at the extrapolated point on a fresh batch."""
        d_loss, g_loss = self.grads_at_current_point(*self._draw())
        update_D, update_G = self.policy.decide(self.step, d_loss, g_loss)
        if self.extragradient:
            self.opt_D.extrapolation(), self.opt_G.extrapolation()
            self.grads_at_current_point(*self._draw())
        _masked_step(self.opt_D, update_D)
        _masked_step(self.opt_G, update_G)
        if self.projection_D is not None:
            self.projection_D(self.D)
        return d_loss, g_loss, update_D, update_G

    def alternating_step(self) -> tuple:
        """D steps on the batch, then G's gradient is taken through the moved D on the same batch
        (counted as one gradient evaluation, as the D-and-G gradients of a simultaneous step are)."""
        real, z, index = self._draw()
        d_loss = self.d_only_update(real, z, index)
        g_loss = self.loss.g(self.D(self.G(z)))
        g_total = self._g_total(g_loss)
        self._check_finite(g_loss=g_total)
        _set_grads(self.G_params, g_total, retain=False)
        self.opt_G.step()
        self.grad_evals += 1
        return d_loss, g_loss.detach(), True, True

    def train_step(self) -> None:
        t0 = time.perf_counter()
        for _ in range(self.d_steps - 1):
            self.d_only_update(*self._draw())
            self.grad_evals += 1
        self.last = self.simultaneous_step() if self.policy.simultaneous else self.alternating_step()
        if self.G_avg is not None:
            self.G_avg.update_parameters(self.G)
        self.counts["D"] += torch.as_tensor(self.last[2], dtype=torch.long)
        self.counts["G"] += torch.as_tensor(self.last[3], dtype=torch.long)
        self.step += 1
        self.elapsed += time.perf_counter() - t0

    # ------------------------------------------------------------------ logs and evaluation
    def log_losses(self) -> None:
        d_loss, g_loss, update_D, update_G = self.last
        self.log_rows.append({"step": self.step, "d_loss": d_loss.float().mean().item(),
                              "g_loss": g_loss.float().mean().item(),
                              "update_D": torch.as_tensor(update_D, dtype=torch.float).mean().item(),
                              "update_G": torch.as_tensor(update_G, dtype=torch.float).mean().item(),
                              "grad_evals": self.grad_evals, "seconds": self.elapsed})

    def run_evaluation(self) -> None:
        """``evaluate(step, G, D)`` in eval mode without gradients, once per step at most."""
        if self.evaluate is None or any(r["step"] == self.step for r in self.eval_rows):
            return
        self.G.eval(), self.D.eval()
        with torch.no_grad():
            row = {"step": self.step, "grad_evals": self.grad_evals, "seconds": self.elapsed,
                   **self.evaluate(self.step, self.G, self.D)}
        self.G.train(), self.D.train()
        self.eval_rows.append(row)

    def result(self) -> TrainResult:
        return TrainResult(log=pd.DataFrame(self.log_rows), evals=pd.DataFrame(self.eval_rows), steps=self.step,
                           grad_evals=self.grad_evals, seconds=self.elapsed, G_avg=self.G_avg, updates=self.counts)

    # ------------------------------------------------------------------ checkpoints
    def record(self, config: dict | None, average_G: str | None, ema_decay: float) -> dict:
        """What the run was: compared on resume, so a checkpoint is only continued by the same run."""
        mine = {
            "loss": getattr(self.loss, "name", type(self.loss).__name__),
            "loss_options": getattr(self.loss, "options", {}),
            "policy": self.policy.name, "policy_options": getattr(self.policy, "options", {}),
            "opt_G": optimizer_record(self.opt_G, "opt_G"), "opt_D": optimizer_record(self.opt_D, "opt_D"),
            "data": self.batches.describe(), "batch_size": self.batch_size, "d_steps": self.d_steps,
            "latent_dim": list(self.noise.shape), "seed": self.seed if isinstance(self.seed, int) else list(self.seed),
            "average_G": average_G, "ema_decay": ema_decay if average_G == "ema" else None,
            "penalty_D": name_of(self.penalty_D), "penalty_G": name_of(self.penalty_G),
            "projection_D": name_of(self.projection_D),
        }
        return plain(dict(config or {}, **mine), "the run's config", keep_tensors=False)

    def save(self, path: Path, config: dict) -> None:
        """Write the checkpoint atomically, after checking that everything in it is finite."""
        bad = first_nonfinite({"G": self.G, "D": self.D, "the averaged G": self.G_avg},
                              {"opt_G": self.opt_G, "opt_D": self.opt_D})
        if bad is not None:
            raise self._diverged(f"{bad} (checked before writing {path}, which was left as it was)")
        save_checkpoint({"config": config, "G": self.G.state_dict(), "D": self.D.state_dict(),
                         "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                         "policy": plain(self.policy.state_dict(), "the policy's state_dict()", keep_tensors=True),
                         "G_avg": self.G_avg.state_dict() if self.G_avg is not None else None, "step": self.step,
                         "index": self.index, "grad_evals": self.grad_evals, "seconds": self.elapsed,
                         "counts": self.counts, "log": self.log_rows,
                         "evals": plain(self.eval_rows, "evaluate()'s rows", keep_tensors=True)}, path, self.device)
        self.good = (path, self.step)

    def resume(self, path: Path, config: dict, new_lr: bool) -> None:
        """Continue from the checkpoint at ``path`` if it records the same run (see :func:`fit`)."""
        state = load_checkpoint(path, map_location=self.device)
        check_same_run(path, state["config"], config, new_lr)
        lrs = [[g["lr"] for g in opt.param_groups] for opt in (self.opt_G, self.opt_D)]
        self.G.load_state_dict(state["G"]), self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"]), self.opt_D.load_state_dict(state["opt_D"])
        if new_lr:  # the learning rates of the optimizers passed in, not the checkpoint's
            for opt, rates in zip((self.opt_G, self.opt_D), lrs):
                for group, lr in zip(opt.param_groups, rates):
                    group["lr"] = lr
        self.policy.load_state_dict(state["policy"])
        if self.G_avg is not None:
            self.G_avg.load_state_dict(state["G_avg"])
        self.step, self.index, self.grad_evals, self.elapsed = state["step"], state["index"], state["grad_evals"], state["seconds"]
        self.counts, self.log_rows, self.eval_rows = state["counts"], state["log"], state["evals"]
        restore_rng(state["rng"], self.device)
        self.good = (path, self.step)


def fit(
    G: nn.Module, D: nn.Module, data: Dataset | torch.Tensor, *, loss: Any,
    opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer, steps: int, batch_size: int,
    latent_dim: int | Sequence[int], policy: str | Policy = "simultaneous", d_steps: int = 1,
    seed: int | Sequence[int] = 0, device: str | torch.device = "auto",
    evaluate: Callable[[int, nn.Module, nn.Module], dict] | None = None, eval_every: int = 0, log_every: int = 1,
    projection_D: Callable[[nn.Module], None] | None = None,
    penalty_D: Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    penalty_G: Callable[[nn.Module], torch.Tensor] | None = None, average_G: str | None = None,
    ema_decay: float = 0.999, checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
    resume: bool | Literal["new_lr"] = True, config: dict | None = None, progress: bool | None = None,
) -> TrainResult:
    """Train ``G`` against ``D`` for ``steps`` steps and return a :class:`TrainResult`.

    ``loss`` has ``d(real_logits, fake_logits)`` and ``g(fake_logits)`` (see
    :func:`gancore.losses.gan_loss`); ``penalty_D(D, real, fake, generator)`` and ``penalty_G(G)`` are
    added to the players' losses (gradient penalty, EWC, ...): ``generator`` is a CPU
    ``torch.Generator`` seeded from ``(seed, batch index)`` (:func:`penalty_generator`), from which
    the penalty must draw any randomness. ``projection_D(D)`` runs after every D update (WGAN weight
    clipping). ``average_G`` is ``"uniform"`` (ergodic average of the iterates) or ``"ema"`` (decay
    ``ema_decay``), kept with :class:`torch.optim.swa_utils.AveragedModel`. ``evaluate(step, G, D) ->
    dict`` runs at step 0, every ``eval_every`` steps and at the end. ``config`` is recorded with the run.

    ``checkpoint`` is a file, written every ``checkpoint_every > 0`` steps and at the end. ``resume``:
    ``True`` continues it if it records the same run (else ``ValueError`` naming each difference; a
    file that is not an intact checkpoint: :class:`gancore.storage.CorruptFileError`); ``"new_lr"``
    also, with the learning rates of ``opt_G`` / ``opt_D`` instead of the checkpoint's (e.g. smaller
    ones after :class:`TrainingDiverged`); ``False`` ignores it and overwrites it at the first checkpoint.
    """
    if steps < 0 or d_steps < 1 or log_every < 1:
        raise ValueError(f"Invalid loop sizes: steps={steps}, d_steps={d_steps}, log_every={log_every}.")
    if average_G not in (None, "uniform", "ema"):
        raise ValueError(f"Invalid average_G {average_G!r}: use None, 'uniform' or 'ema'.")
    if resume not in (True, False, "new_lr"):
        raise ValueError(f"Invalid resume {resume!r}: use True, False or 'new_lr'.")
    policy = _policy(policy)
    two_phase = _two_phase(opt_G), _two_phase(opt_D)
    if any(two_phase) and not (all(two_phase) and isinstance(policy, Simultaneous) and d_steps == 1):
        raise ValueError("Extrapolation solvers need both players to use one, policy='simultaneous' and "
                         "d_steps=1 (extragradient evaluates both players at the extrapolated point and "
                         "both must complete the step).")
    device = resolve_device(device)
    G.to(device), D.to(device)
    latent = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
    G_avg = None
    if average_G is not None:
        G_avg = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(ema_decay) if average_G == "ema" else None,
                              use_buffers=True)
    run = _Run(G, D, loss, opt_G, opt_D, policy, Batches(data, batch_size, seed, device), Noise(latent, seed, device),
               seed=seed, batch_size=batch_size, d_steps=d_steps, evaluate=meter.timed(evaluate),
               projection_D=projection_D, penalty_D=penalty_D, penalty_G=penalty_G, G_avg=G_avg, device=device)
    record = run.record(config, average_G, ema_decay)
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and resume and path.exists():
        run.resume(path, record, new_lr=resume == "new_lr")

    run.run_evaluation()
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=steps, initial=run.step, desc="fit", leave=False) if show else None
    G.train(), D.train()
    while run.step < steps:
        run.train_step()
        if run.step % log_every == 0 or run.step == steps:
            run.log_losses()
        if path is not None and checkpoint_every and (run.step % checkpoint_every == 0 or run.step == steps):
            run.save(path, record)
        if eval_every and run.step % eval_every == 0:
            run.run_evaluation()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(d=f"{run.log_rows[-1]['d_loss']:.3f}", g=f"{run.log_rows[-1]['g_loss']:.3f}", refresh=False)
    if bar is not None:
        bar.close()
    run.run_evaluation()
    return run.result()


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
