"""The arena's contestants: one registry of game solvers, each a pair of ``torch.optim`` optimizers and a
who-updates policy for :func:`gancore.train.fit`, so that every game of the arena runs the same methods
through the same loop.

A :class:`Method` is built for given players and one step size ``lr`` from a grid shared by all methods
(each method is then reported at its best grid point). Budgets are counted in **player-gradient
evaluations**: one backward pass of one player's loss. A simultaneous, alternating, optimistic, SRFB or
cooperative step costs 2 (one per player; the cooperative rule computes both gradients to decide who
moves), an extragradient step 4 (both players, at the point and at the extrapolated point), a double-oracle
training step 1 (only the learner moves). :meth:`Method.steps` turns a budget into steps.

The methods (Adam: betas (0.5, 0.999), the DCGAN habit; SRFB: delta = 0.618, the golden-ratio choice of
Franci & Grammatico 2020):

========== =============================================================== ==============
name       update                                                         policy
========== =============================================================== ==============
sim-GDA    SGD (gradient descent-ascent)                                   simultaneous
alt-GDA    SGD                                                             alternating
sim-Adam   Adam                                                            simultaneous
alt-Adam   Adam                                                            alternating
EG         extragradient (Korpelevich 1976)                                simultaneous
OGDA       optimistic GDA (Daskalakis et al. 2018)                         simultaneous
SRFB       stochastic relaxed forward-backward, last iterate               simultaneous
SRFB-avg   SRFB, the uniform average of the generator's iterates scored   simultaneous
coop-Adam  Adam under the cooperative who-updates rule (Babu et al.)       cooperative
========== =============================================================== ==============

The double oracle is not a per-step method (its unit is a trained best response); each game runs it
with its own oracles on the same budget. The ring and the digits add two contestants (:data:`CONTESTANTS`):
``alpha-GAN`` (alt-Adam on an (alpha_D, alpha_G) loss) and ``DO-GAN`` (:func:`gancore.dogan.dogan`, its
budget split by :func:`dogan_steps`); the ring adds ``vanilla-GAN`` (:data:`RING_ONLY`): alt-Adam on the
same alpha loss at (alpha_D, alpha_G) = (1, 1), i.e. the saturating vanilla GAN of Goodfellow et al. with
the same clamp, the baseline Welfert et al. compare alpha-GAN with on the ring (ISIT 2023, Fig. 2b; on
images their generator is non-saturating, so there alt-Adam on the NS loss is the paper's vanilla GAN).
:func:`check_group` checks the settings both games share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd
import torch

from .. import train
from ..repeated import Cooperative
from ..solvers import SRFB, ExtraGradient, OptimisticGDA

__all__ = ["Method", "METHODS", "method", "BETAS", "DELTA", "ALPHA_GAN", "DO_GAN", "VANILLA_GAN", "CONTESTANTS",
           "RING_ONLY", "COLUMNS",
           "DO_TIMES", "contestant", "dogan_steps", "check_group", "ordered_curves"]

BETAS = (0.5, 0.999)
DELTA = 0.618
SOLVERS = ("sgd", "adam", "eg", "ogda", "srfb")
POLICIES = ("simultaneous", "alternating", "cooperative")


@dataclass(frozen=True)
class Method:
    """A contestant: ``solver`` (``"sgd"``, ``"adam"``, ``"eg"``, ``"ogda"``, ``"srfb"``) for both players,
    ``policy`` (``"simultaneous"``, ``"alternating"``, ``"cooperative"``) and whether the generator's
    uniform average is what gets scored (``average``)."""

    name: str
    solver: str
    policy: str = "simultaneous"
    average: bool = False

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"Unknown solver {self.solver!r} for method {self.name!r}: use one of {SOLVERS}.")
        if self.policy not in POLICIES:
            raise ValueError(f"Unknown policy {self.policy!r} for method {self.name!r}: use one of {POLICIES}.")
        if self.solver == "eg" and self.policy != "simultaneous":
            raise ValueError(f"Method {self.name!r}: extragradient needs the simultaneous policy.")

    @property
    def evals_per_step(self) -> int:
        """Player-gradient evaluations per training step (4 for extragradient, else 2)."""
        return 4 if self.solver == "eg" else 2

    def steps(self, budget: int) -> int:
        """Training steps that fit in ``budget`` player-gradient evaluations."""
        if budget < self.evals_per_step:
            raise ValueError(f"A budget of {budget} player-gradient evaluations is less than one step of "
                             f"{self.name} ({self.evals_per_step}); give a larger budget.")
        return budget // self.evals_per_step

    def optimizer(self, params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
        """One player's optimizer with step size ``lr``."""
        if not lr > 0:
            raise ValueError(f"Invalid step size lr={lr} for {self.name}: use lr > 0.")
        params = list(params)
        if self.solver == "sgd":
            return torch.optim.SGD(params, lr)
        if self.solver == "adam":
            return torch.optim.Adam(params, lr, betas=BETAS)
        if self.solver == "eg":
            return ExtraGradient(params, lr)
        if self.solver == "ogda":
            return OptimisticGDA(params, lr)
        return SRFB(params, lr, DELTA)

    def make_policy(self) -> str | train.Policy:
        """The policy to pass to :func:`gancore.train.fit` (a fresh :class:`~gancore.repeated.Cooperative`
        for the cooperative rule, since it keeps state)."""
        return Cooperative() if self.policy == "cooperative" else self.policy

    @property
    def average_G(self) -> str | None:
        """``fit``'s ``average_G``: ``"uniform"`` when the average is scored."""
        return "uniform" if self.average else None


METHODS: tuple[Method, ...] = (
    Method("sim-GDA", "sgd"),
    Method("alt-GDA", "sgd", "alternating"),
    Method("sim-Adam", "adam"),
    Method("alt-Adam", "adam", "alternating"),
    Method("EG", "eg"),
    Method("OGDA", "ogda"),
    Method("SRFB", "srfb"),
    Method("SRFB-avg", "srfb", average=True),
    Method("coop-Adam", "adam", "cooperative"),
)


def method(name: str) -> Method:
    """The method called ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    for m in METHODS:
        if m.name == name:
            return m
    raise ValueError(f"Unknown method {name!r}. Known: {', '.join(m.name for m in METHODS)}.")


ALPHA_GAN, DO_GAN, VANILLA_GAN = "alpha-GAN", "DO-GAN", "vanilla-GAN"
CONTESTANTS: tuple[str, ...] = tuple(m.name for m in METHODS) + (ALPHA_GAN, DO_GAN)
"""The contestants of the ring and the digits: every method, alpha-GAN and DO-GAN."""
RING_ONLY: tuple[str, ...] = (VANILLA_GAN,)
"""Contestants of the ring alone: the saturating vanilla GAN, alpha-GAN's baseline there."""
COLUMNS = ["method", "lr", "seed", "step", "evals", "seconds", "metric", "value"]
"""The columns of a game's tidy curves (one row per evaluation, member and metric)."""
DO_TIMES = ["oracle_s", "payoff_s", "solve_s", "prune_s"]
"""The columns of :func:`gancore.dogan.dogan`'s history that add up to a DO iteration's time."""


def contestant(name: str) -> tuple[Method, str | None]:
    """The method a per-step contestant trains with, and the loss it plays instead of the game's own:
    ``"alpha"`` for ``alpha-GAN`` (alt-Adam on the (alpha_D, alpha_G) losses), ``"vanilla"`` for
    ``vanilla-GAN`` (alt-Adam on the same losses at alpha_D = alpha_G = 1), None for the others."""
    if name in (ALPHA_GAN, VANILLA_GAN):
        return method("alt-Adam"), "alpha" if name == ALPHA_GAN else "vanilla"
    return method(name), None


def dogan_steps(settings: Mapping[str, Any]) -> tuple[int, int]:
    """``(init_steps, oracle_steps)`` of DO-GAN on a group's ``budget``: ``init_steps = round(dogan.init *
    budget / 2)`` alternating steps (2 evaluations each), taken at an evaluation (``2 init_steps`` a multiple
    of ``eval_every``), then ``dogan.iterations`` DO iterations of two oracles of ``oracle_steps``
    one-learner steps each, so that ``2 init_steps + 2 iterations oracle_steps = budget`` exactly; anything
    else is a ``ValueError`` saying what to change."""
    budget, every, do = settings["budget"], settings["eval_every"], settings["dogan"]
    if not 0 <= do["init"] < 1 or do["iterations"] < 1:
        raise ValueError(f"Invalid DO-GAN split: dogan.init={do['init']} (use 0 <= init < 1, the share of the "
                         f"budget for the initial pair) and dogan.iterations={do['iterations']} (use >= 1).")
    init_steps = round(do["init"] * budget / 2)
    rest, per = budget - 2 * init_steps, 2 * do["iterations"]
    if rest % per or rest < per or (2 * init_steps) % every:
        raise ValueError(f"DO-GAN cannot spend the budget exactly from an evaluation: {init_steps} initial steps "
                         f"({2 * init_steps} evaluations, must be a multiple of eval_every={every}) leave {rest} "
                         f"evaluations, which must be a positive multiple of 2 x dogan.iterations = {per}; change "
                         "budget, eval_every, dogan.init or dogan.iterations.")
    return init_steps, rest // per


def check_group(settings: Mapping[str, Any], group: str, min_seeds: int, extra: Sequence[str] = ()) -> list[str]:
    """The contestants of a game's settings group (``"ring"``, ``"image"``), after a ``ValueError`` naming
    the first setting that cannot run: unknown or repeated contestants, fewer than one seed, an empty grid
    or a step size <= 0, a budget or evaluation interval that is not a positive multiple of 4
    (extragradient's cost per step) or an interval that does not divide the budget, or a DO-GAN split that
    does not spend the budget exactly (:func:`dogan_steps`). ``min_seeds`` is what the arena reports;
    ``extra``: the game's own contestants besides :data:`CONTESTANTS` (the ring's :data:`RING_ONLY`)."""
    S = settings
    names, known = list(S["methods"]), CONTESTANTS + tuple(extra)
    unknown = [n for n in names if n not in known]
    if not names or unknown or len(set(names)) < len(names):
        raise ValueError(f"Invalid {group}.methods {names}: give each contestant once, from "
                         f"{', '.join(known)}.")
    if S["seeds"] < 1:
        raise ValueError(f"Invalid {group}.seeds={S['seeds']}: use at least 1 (the arena reports {min_seeds} or more).")
    if not S["lrs"] or not all(lr > 0 for lr in S["lrs"]):
        raise ValueError(f"Invalid step-size grid {group}.lrs={tuple(S['lrs'])}: give one or more step sizes > 0.")
    for key in ("budget", "eval_every"):
        if S[key] < 4 or S[key] % 4:
            raise ValueError(f"Invalid {group}.{key}={S[key]}: use a positive multiple of 4 player-gradient "
                             "evaluations (an extragradient step costs 4), so that every method ends on it.")
    if S["budget"] % S["eval_every"]:
        raise ValueError(f"{group}.eval_every={S['eval_every']} does not divide {group}.budget={S['budget']}: "
                         "choose a divisor, so that every method is evaluated at the same counts.")
    if DO_GAN in names:
        dogan_steps(S)
    return names


def ordered_curves(curves: pd.DataFrame, names: Sequence[str], best: pd.DataFrame | None = None) -> pd.DataFrame:
    """A game's curves sorted by contestant (in the order of ``names``), step size, seed and evaluations;
    with ``best`` (one row per method: its ``method`` and ``lr``) also a column ``best``, whether the row's
    (method, lr) is that method's best grid point."""
    out = curves.copy()
    out["method"] = pd.Categorical(out["method"], categories=list(names))
    out = out.sort_values(["method", "lr", "seed", "evals"], kind="stable").reset_index(drop=True)
    out["method"] = out["method"].astype(str)
    if best is not None:
        chosen = set(zip(best["method"], best["lr"]))
        out["best"] = [(m, lr) in chosen for m, lr in zip(out["method"], out["lr"])]
    return out
