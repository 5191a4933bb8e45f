"""The verdict rule: what one row of evidence says at our configuration, and what it says about the
paper's claim.

Every claim row gets two readings (issue 25):

* **At our configuration** (:class:`Reading`), from the numbers alone:

  - an *ordering* ("the paper's first method beats its second") **holds** when our comparison shows
    it with p < alpha (Holm-adjusted when the test was repeated along training), is **reversed** when
    it shows the opposite with p < alpha, and otherwise shows **no difference detected**, reported
    with the smallest effect these seeds could have detected with 80% power
    (:func:`gancore.stats.detectable_effect`);
  - a *number* (the paper's value, ``direction = "="``) **agrees** when our whole interval lies within
    the declared margin of it (the interval form of the two one-sided tests of equivalence: a
    (1 - 2 alpha) interval inside [value - margin, value + margin] rejects both "below" and "above"
    at level alpha; Schuirmann 1987), **differs** when our whole interval lies outside that band,
    and is **undecided** when the interval straddles its edge.

* **For the paper** (:class:`Verdict`), from the reading and the configuration distance
  (:func:`distance`: our run's settings against the paper's declared ones; seeds and evaluation-only
  settings are not configuration, the number of seeds enters through the interval):

  1. the paper's setting is "not available", or the claim needs data or hardware this machine lacks
     and no evidence was computed -> **not testable here**;
  2. a difference remains that the paper file does not argue irrelevant -> **inconclusive at this
     scale** (the row names each difference);
  3. at the paper's configuration: holds / agrees -> **reproduced**; reversed / differs ->
     **not reproduced**; no difference detected where even the declared margin lies outside the
     interval of the difference (the claimed effect is excluded) -> **not reproduced**; otherwise
     **inconclusive at this scale**.

  Rows of the arena (``kind = "arena"``: a paper's claim carried to a game the paper never used) get
  their own labels: **carries over** / **does not carry over** / **no difference detected**; and
  theory checks (``kind = "theory"``, an identity or closed form against a solver, no configuration)
  are reproduced or not by the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from numbers import Number

from . import stats

__all__ = ["NOT_CONFIGURATION", "flatten", "distance", "Reading", "Verdict", "Finding", "decide", "KINDS"]

KINDS = ("paper", "theory", "arena")

NOT_CONFIGURATION = frozenset({"seed", "seeds", "tuning_seeds", "n_eval", "eval_every", "eval_n", "eval_samples",
                               "reference_n", "progress", "workers", "data_root"})
"""Setting names (the last part of a dotted name) that say how much was evaluated or how it was run,
not what was trained: they never enter the configuration distance."""


def flatten(settings: Mapping[str, object], where: str = "") -> dict[str, object]:
    """``settings`` with every group flattened into dotted names (``{"ring": {"lr": 1e-4}}`` ->
    ``{"ring.lr": 1e-4}``); lists become tuples so that equal values compare equal."""
    flat: dict[str, object] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{where}{key}.")
        else:
            flat[where + str(key)] = tuple(value) if isinstance(value, list) else value
    return flat


def _number(x: object) -> bool:
    return isinstance(x, Number) and not isinstance(x, bool)


def _show(x: object) -> str:
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:,.0f}" if x.is_integer() and abs(x) >= 1 else f"{x:.4g}"
    if isinstance(x, tuple):
        return "(" + ", ".join(_show(v) for v in x) + ")"
    return str(x)


def _same(a: object, b: object) -> bool:
    if _number(a) and _number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def distance(ours: Mapping[str, object], paper: Mapping[str, object],
             ignore: Sequence[str] = ()) -> list[str]:
    """How our configuration differs from the paper's, one phrase per key the paper declares, in its
    order (``ours`` and ``paper`` may be nested or dotted): numbers as "ring.steps 3,000 vs 156,000
    (1.9%)" (ours as a share of the paper's), anything else as "ring.loss ns vs saturating"; a key we
    do not have reads "(not set)". Keys in :data:`NOT_CONFIGURATION` or ``ignore`` are skipped. An
    empty list: the paper's configuration."""
    mine, theirs = flatten(ours), flatten(paper)
    out = []
    for key, b in theirs.items():
        if key.rsplit(".", 1)[-1] in NOT_CONFIGURATION or key in ignore:
            continue
        a = mine.get(key, "(not set)")
        if _same(a, b):
            continue
        text = f"{key} {_show(a)} vs {_show(b)}"
        if _number(a) and _number(b) and b != 0:
            pct = 100 * float(a) / float(b)
            text += f" ({pct:,.0f}%)" if abs(pct) >= 10 else f" ({pct:.2g}%)"
        out.append(text)
    return out


class Reading(StrEnum):
    """What the evidence says at our configuration."""

    HOLDS = "holds"
    REVERSED = "reversed"
    NO_DIFFERENCE = "no difference detected"
    AGREES = "agrees within the margin"
    DIFFERS = "differs beyond the margin"
    UNDECIDED = "undecided"
    NONE = "not run"


class Verdict(StrEnum):
    """What the row says about the paper's claim (paper and theory rows) or about the claim on
    another game (arena rows); a ``StrEnum``, so each equals its text."""

    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not reproduced"
    INCONCLUSIVE = "inconclusive at this scale"
    NOT_TESTABLE = "not testable here"
    CARRIES_OVER = "carries over"
    DOES_NOT_CARRY_OVER = "does not carry over"
    NO_DIFFERENCE = "no difference detected"


@dataclass(frozen=True)
class Finding:
    """The two readings of one row with the one-sentence ``reason`` (its numbers), the configuration
    ``distance`` left (empty: the paper's configuration) and the differences ``argued`` irrelevant
    (each with the paper file's reason)."""

    reading: Reading
    verdict: Verdict
    reason: str
    distance: tuple[str, ...] = field(default=())
    argued: tuple[str, ...] = field(default=())

    @property
    def configuration(self) -> str:
        if self.distance:
            return "; ".join(self.distance)
        if self.verdict == Verdict.NOT_TESTABLE:
            return "(not run)" if self.reading == Reading.NONE else "(the paper's setting is not available)"
        return "the paper's configuration" + (" (" + "; ".join(self.argued) + ")" if self.argued else "")

    def __str__(self) -> str:
        return f"{self.verdict} [ours: {self.reading}]: {self.reason} [configuration: {self.configuration}]"


def _check_value(name: str, value: object) -> float:
    if not _number(value) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _read_number(ours: stats.Interval, value: float, margin: float) -> tuple[Reading, str]:
    if not ours.finite:
        return Reading.UNDECIDED, f"our interval {ours} is unbounded (one seed)"
    low, high = value - margin, value + margin
    band = f"the paper's {value:g} +- {margin:g}"
    if low <= ours.low and ours.high <= high:
        return Reading.AGREES, f"our {ours} lies within {band}"
    if ours.high < low or ours.low > high:
        return Reading.DIFFERS, f"our {ours} lies outside {band}"
    return Reading.UNDECIDED, f"our {ours} straddles the edge of {band}"


def _read_order(ours: stats.Comparison, direction: str, margin: float | None,
                alpha: float) -> tuple[Reading, str, bool]:
    """The reading of an ordering claim, its evidence text, and whether the claimed effect (at least
    ``margin`` in the paper's direction) is excluded by the interval of the difference."""
    seen = ours.direction
    significant = ours.p_value < alpha  # False for NaN
    looks = f", Holm-adjusted over {ours.looks} looks" if ours.looks > 1 else ""
    if significant and seen == direction:
        return Reading.HOLDS, f"the paper's ordering holds (p = {ours.p_value:.2g}{looks}): {ours}", False
    if significant and seen != "=":
        return Reading.REVERSED, f"the paper's ordering is reversed (p = {ours.p_value:.2g}{looks}): {ours}", False
    detect = ours.detectable
    text = f"no difference detected (p = {ours.p_value:.2g}{looks}): {ours}"
    if detect is not None and math.isfinite(detect):
        text += f"; these seeds detect {detect:.3g} or more with 80% power"
    sign = 1.0 if direction == ">" else -1.0
    excluded = False
    if margin is not None and ours.difference_interval is not None:
        low, high = ours.difference_interval
        upper = high if sign > 0 else -low  # largest effect in the paper's direction the interval allows
        excluded = math.isfinite(upper) and upper < margin
        if excluded:
            text += f"; the paper's margin {margin:g} lies outside the difference's interval [{low:.3g}, {high:.3g}]"
    return Reading.NO_DIFFERENCE, text, excluded


def decide(*, kind: str, direction: str, evidence: stats.Interval | stats.Comparison | None = None,
           value: float | None = None, margin: float | None = None, gap: Sequence[str] = (),
           argued: Sequence[str] = (), available: bool = True, needs: str | None = None,
           alpha: float = 0.05) -> Finding:
    """Both readings of one row (module docstring). ``direction``: ">" or "<" (an ordering: the
    comparison's first sample against its second) or "=" (the paper's number ``value`` within
    ``margin``); ``gap``: the differences of configuration left after the argued ones; ``available``:
    False when the paper's setting is not available; ``needs``: what this machine lacks to run the
    paper's setting (with the command and cost, shown when nothing was run)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (choose one of {', '.join(KINDS)})")
    if direction not in (">", "<", "="):
        raise ValueError(f"unknown direction {direction!r} (choose '>' or '<' for an ordering, '=' for a number)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    gap, argued = tuple(gap), tuple(argued)
    if evidence is None:
        if kind != "paper" or (needs is None and available):
            raise ValueError("no evidence: only a paper claim that declares what it needs (or whose "
                             "setting is not available) can be decided without a run")
        why = needs if needs is not None else "the paper's setting, which is not available"
        return Finding(Reading.NONE, Verdict.NOT_TESTABLE, f"not run here: needs {why}", gap, argued)
    if margin is not None:
        margin = _check_value("margin", margin)
        if margin < 0:
            raise ValueError(f"margin must be >= 0 (the smallest difference that matters); got {margin}")
    if direction == "=":
        if not isinstance(evidence, stats.Interval):
            raise ValueError("a number claim (direction '=') needs an Interval as evidence")
        if margin is None:
            raise ValueError("a number claim (direction '=') needs a declared margin")
        reading, text = _read_number(evidence, _check_value("value", value), margin)
        excluded = reading == Reading.DIFFERS
    else:
        if not isinstance(evidence, stats.Comparison):
            raise ValueError(f"an ordering claim (direction {direction!r}) needs a Comparison as evidence")
        reading, text, excluded = _read_order(evidence, direction, margin, alpha)
    if kind == "arena":
        label = {Reading.HOLDS: Verdict.CARRIES_OVER, Reading.AGREES: Verdict.CARRIES_OVER,
                 Reading.REVERSED: Verdict.DOES_NOT_CARRY_OVER, Reading.DIFFERS: Verdict.DOES_NOT_CARRY_OVER}
        return Finding(reading, label.get(reading, Verdict.NO_DIFFERENCE), text, gap, argued)
    if not available:
        return Finding(reading, Verdict.NOT_TESTABLE, f"{text}; the paper's setting is not available, so this is "
                       "a reading at our configuration only", gap, argued)
    if gap:
        return Finding(reading, Verdict.INCONCLUSIVE, f"{text}; not at the paper's configuration", gap, argued)
    if reading in (Reading.HOLDS, Reading.AGREES):
        return Finding(reading, Verdict.REPRODUCED, text, gap, argued)
    if reading in (Reading.REVERSED, Reading.DIFFERS) or excluded:
        return Finding(reading, Verdict.NOT_REPRODUCED, text, gap, argued)
    return Finding(reading, Verdict.INCONCLUSIVE, text, gap, argued)
