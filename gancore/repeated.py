"""Cooperate or compete: the repeated-game who-updates rule of Babu, Guravannavar and Hulgeri.

Babu et al. ("Cooperate or Compete: A New Perspective on Training of Generative Networks", arXiv
2207.02192) view GAN training as an infinitely repeated simultaneous game: on every batch each module's
*performance* is compared with its performance on the previous batch; the **stronger** module
(performance increased or unchanged) cooperates and does not step, the **weaker** module
(performance decreased) takes a gradient step. Only the abstract is known, so the performance measure
and the rule when both modules improved or both got worse are choices of ours, exposed as options:

``measure`` (a performance ``p_t`` per module and batch ``t``; higher is better)
    * ``"loss"`` (default): ``p_t = -l_t``, the module's own loss on the current batch;
    * ``"ema"``: ``p_t = -m_t`` with ``m_t = beta m_{t-1} + (1 - beta) l_t``, ``m_0 = l_0``, so the
      change ``m_t - m_{t-1} = (1 - beta)(l_t - m_{t-1})`` compares the loss with its running mean;
    * ``"accuracy"``: D's balanced accuracy ``(mean[D(x) > 1/2] + mean[D(G(z)) < 1/2]) / 2`` and G's
      fooling rate ``mean[D(G(z)) > 1/2]`` on the current batch, read from the logits of the loop's
      own forward pass (wrap the objective with :meth:`Cooperative.watch`; no second forward pass).

the rule, with ``delta_X = p_t - p_{t-1}`` (X = D, G) and X *weaker* when ``delta_X < 0``
    * D weaker, G stronger: only D steps; G weaker, D stronger: only G steps;
    * both stronger (both improved or unchanged): ``both_better`` = ``"none"`` (default: neither
      steps, the literal reading "a stronger module does not step"), ``"both"`` or ``"lagging"``;
    * both weaker: ``both_worse`` = ``"both"`` (default: each is weaker, so each steps), ``"none"`` or
      ``"lagging"``;
    * ``"lagging"``: only the module with the smaller relative change
      ``r_X = delta_X / max(|p_{t-1}|, eps)`` steps (both when ``r_D = r_G``);
    * the first batch has no previous one: both step.

The decisions are elementwise, so the same object drives a single GAN (scalar losses, bool
decisions) and an ensemble of K seeds (``(K,)`` losses, ``(K,)`` bool decisions; the training loop
freezes the members whose entry is False). Every batch's case and decisions are recorded
(:meth:`Cooperative.history`) and kept in :meth:`Cooperative.state_dict`, so a resumed run continues
the same record.

:func:`cooperative` ``(loss, **options)`` gives a chapter the policy and the loss to train with in one
call; pass both to :func:`gancore.train.fit` (``policy=``, ``loss=``). ``gancore.train`` never imports
this module: a who-updates policy is an object handed to ``fit``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from .losses import GANLoss, gan_loss

__all__ = ["Cooperative", "cooperative", "method_policy", "METHODS", "CASES", "MEASURES", "TIE_RULES"]

METHODS = ("simultaneous", "alternating", "cooperative")
"""The ways of training compared with the rule: the two standard ones and the cooperative rule."""
CASES = ("first", "D weaker", "G weaker", "both better", "both worse")
MEASURES = ("loss", "ema", "accuracy")
TIE_RULES = ("none", "both", "lagging")
_FIRST, _D_WEAKER, _G_WEAKER, _BOTH_BETTER, _BOTH_WORSE = range(len(CASES))
_EPS = 1e-12


class Cooperative:
    """The cooperative repeated-game policy for :func:`gancore.train.fit` (see the module docstring).

    ``Cooperative(measure="loss", both_better="none", both_worse="both", beta=0.9)``; pass it as
    ``policy=`` to ``fit``. With ``measure="accuracy"`` pass ``loss=policy.watch(loss)`` too, or get
    both at once from :func:`cooperative`.
    """

    name = "cooperative"
    simultaneous = True

    def __init__(self, measure: str = "loss", both_better: str = "none", both_worse: str = "both",
                 beta: float = 0.9):
        if measure not in MEASURES:
            raise ValueError(f"Invalid measure {measure!r}: use one of {', '.join(MEASURES)}.")
        for label, rule in (("both_better", both_better), ("both_worse", both_worse)):
            if rule not in TIE_RULES:
                raise ValueError(f"Invalid {label} rule {rule!r}: use one of {', '.join(TIE_RULES)}.")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid EMA factor beta: {beta} (must lie in [0, 1)).")
        self.measure, self.both_better, self.both_worse, self.beta = measure, both_better, both_worse, float(beta)
        # The decision works on float64 NumPy arrays on the host: one device sync per batch (the loop
        # needs the decision on the host anyway), then microsecond-scale operations.
        self._previous: np.ndarray | None = None  # (2, ...) performance of D and G on the previous batch
        self._ema: np.ndarray | None = None  # (2, ...) running mean of the losses (measure "ema")
        self._logits: tuple[torch.Tensor, torch.Tensor] | None = None
        self._steps: list[int] = []
        self._records: list[np.ndarray] = []  # per batch: (3, ...) int8 rows case, update_D, update_G
        self._table = np.array([self._rule(*map(bool, bits)) for bits in np.ndindex(2, 2, 2, 2)], dtype=np.int8).T

    @property
    def options(self) -> dict:
        """The options that define the rule (recorded in a training checkpoint)."""
        return {"measure": self.measure, "both_better": self.both_better, "both_worse": self.both_worse,
                "beta": self.beta}

    # ------------------------------------------------------------------ the measure
    def watch(self, loss: GANLoss) -> GANLoss:
        """``loss`` with a ``d`` that also hands the (detached) real and fake logits to this policy:
        the logits of the loop's forward pass at the current point, which ``measure="accuracy"`` reads.
        The name and options are unchanged (checkpoint configs still match)."""

        def d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
            self._logits = (real_logits.detach(), fake_logits.detach())
            return loss.d(real_logits, fake_logits)

        return GANLoss(loss.name, d, loss.g, dict(loss.options))

    def _performance(self, d_loss: torch.Tensor, g_loss: torch.Tensor) -> np.ndarray:
        if self.measure != "accuracy":
            losses = np.array([d_loss.detach().cpu().numpy(), g_loss.detach().cpu().numpy()], dtype=np.float64)
        if self.measure == "loss":
            return -losses
        if self.measure == "ema":
            self._ema = losses if self._ema is None else self.beta * self._ema + (1 - self.beta) * losses
            return -self._ema
        if self._logits is None:
            raise RuntimeError("measure='accuracy' reads D's logits from the training loss: pass "
                               "loss=policy.watch(loss) to train.fit.")
        real, fake = self._logits
        self._logits = None  # consumed: never reuse the logits of an earlier point
        real_ok = (real > 0).double().mean(dim=(-2, -1)).cpu().numpy()
        fooled = (fake > 0).double().mean(dim=(-2, -1)).cpu().numpy()
        return np.array([(real_ok + 1 - fooled) / 2, fooled])

    # ------------------------------------------------------------------ the rule
    def _rule(self, weak_d: bool, weak_g: bool, lag_d: bool, lag_g: bool) -> tuple[int, bool, bool]:
        """(case, D steps, G steps) for one batch: X is weaker when its performance went down, and
        lags when its relative change is the smaller one (both lag on a tie)."""
        if weak_d != weak_g:
            return (_D_WEAKER, True, False) if weak_d else (_G_WEAKER, False, True)
        case, rule = (_BOTH_WORSE, self.both_worse) if weak_d else (_BOTH_BETTER, self.both_better)
        if rule == "lagging":
            return case, lag_d, lag_g
        return case, rule == "both", rule == "both"

    def decide(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor) -> tuple:
        """Who steps on this batch, from the losses at the current point (before anyone moves).
        Scalar losses give two bools; (K,) losses give two (K,) bool tensors."""
        p = self._performance(d_loss, g_loss)
        if self._previous is None:
            record = np.empty((3, *p.shape[1:]), dtype=np.int8)
            record[0], record[1:] = _FIRST, 1
        else:
            delta = p - self._previous
            rel = delta / np.maximum(np.abs(self._previous), _EPS)
            # _rule tabulated over its 16 inputs once, then looked up for every member at once
            index = 8 * (delta[0] < 0) + 4 * (delta[1] < 0) + 2 * (rel[0] <= rel[1]) + (rel[1] <= rel[0])
            record = self._table[:, index]
        self._previous = p
        self._steps.append(int(step))
        self._records.append(record)
        up_d, up_g = record[1].astype(bool), record[2].astype(bool)
        if up_d.ndim == 0:
            return bool(up_d), bool(up_g)
        return torch.from_numpy(up_d).to(d_loss.device), torch.from_numpy(up_g).to(d_loss.device)

    # ------------------------------------------------------------------ the record
    def history(self) -> pd.DataFrame:
        """One row per batch (and member, for an ensemble): ``step``, ``member`` (ensembles only),
        ``case`` (one of :data:`CASES`), ``update_D``, ``update_G``."""
        if not self._records:
            return pd.DataFrame(columns=["step", "case", "update_D", "update_G"])
        rec = np.stack(self._records)  # (T, 3) or (T, 3, K)
        steps = np.asarray(self._steps)
        table = {"step": steps}
        if rec.ndim == 3:
            K = rec.shape[2]
            table = {"step": np.repeat(steps, K), "member": np.tile(np.arange(K), len(steps))}
            rec = rec.transpose(0, 2, 1).reshape(-1, 3)
        return pd.DataFrame({**table, "case": np.asarray(CASES)[rec[:, 0]],
                             "update_D": rec[:, 1].astype(bool), "update_G": rec[:, 2].astype(bool)})

    def summary(self) -> pd.Series:
        """Shares of batches (over all members) in each case, and how often D and G stepped."""
        h = self.history()
        share = h["case"].value_counts(normalize=True).reindex(CASES, fill_value=0.0)
        return pd.concat([share, pd.Series({"D stepped": h.update_D.mean(), "G stepped": h.update_G.mean()})])

    def state_dict(self) -> dict:
        return {**self.options, "previous": _tensor(self._previous), "ema": _tensor(self._ema),
                "steps": list(self._steps), "records": torch.from_numpy(np.stack(self._records)) if self._records else None}

    def load_state_dict(self, state: dict) -> None:
        mine = tuple(self.options.values())
        theirs = tuple(state[k] for k in self.options)
        if mine != theirs:
            raise ValueError(f"Policy state of Cooperative{theirs} cannot be loaded into Cooperative{mine} "
                             "(measure, both_better, both_worse, beta).")
        self._previous, self._ema = _array(state["previous"]), _array(state["ema"])
        self._steps = list(state["steps"])
        self._records = list(state["records"].cpu().numpy()) if state["records"] is not None else []
        self._logits = None


def cooperative(loss: GANLoss, **options: Any) -> tuple[Cooperative, GANLoss]:
    """The cooperative policy ``Cooperative(**options)`` and the loss to train with: ``loss`` watched
    by the policy when ``measure="accuracy"`` (it reads D's logits), else ``loss`` itself. Use as
    ``policy, loss = cooperative(loss, measure="accuracy"); fit(..., policy=policy, loss=loss)``."""
    policy = Cooperative(**options)
    return policy, policy.watch(loss) if policy.measure == "accuracy" else loss


def method_policy(method: str, **options: Any) -> tuple[Cooperative | str, GANLoss]:
    """The who-updates policy of ``method`` (one of :data:`METHODS`; ``"cooperative"``: a fresh
    :class:`Cooperative` with ``options``) and the loss it trains with: the non-saturating GAN loss,
    watched by the policy where its measure reads D's logits."""
    loss = gan_loss("ns")
    if method == "cooperative":
        return cooperative(loss, **options)
    if options:
        raise ValueError(f"options {sorted(options)} apply to the cooperative rule only, not to {method!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (choose one of {', '.join(METHODS)})")
    return method, loss


def _tensor(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.array(a))


def _array(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.cpu().numpy().copy()
