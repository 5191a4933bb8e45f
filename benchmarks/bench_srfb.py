"""SRFB against extragradient: gradient evaluations to a target accuracy, and the cost of one step.

* ``srfb_vs_eg_gradient_ratio_det``: pseudogradient evaluations SRFB needs to reach a relative distance
  of 1e-6 from the solution of a random 10 x 10 bilinear game, over those extragradient needs, each at
  its best step size (and delta, for SRFB) from a grid. < 1 means SRFB is cheaper.
* ``srfb_vs_eg_gradient_ratio_stoch``: the same in samples drawn, on Gidel's 1-D WGAN with a growing
  batch S_k = (k + 1)^4 (mean over seeds, best grid point each).
* ``srfb_step_overhead``: time of one ``SRFB.step()`` over one ``torch.optim.SGD.step()`` on the
  parameters of the paper-size DCGAN pair (CIFAR-10, width 64), gradients given. Target <= 1.3.

No target for the two ratios: they answer the paper's claim of a computational advantage over
extragradient, yes or no.
"""

from __future__ import annotations

import functools
import statistics
import time

import torch

from gancore import games, models, solvers

TOL = 1e-6
DELTAS = (0.618, 0.7, 0.8, 0.9)
LR_FACTORS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4)  # lr = factor / L
STEP_NOTE = ("The step is memory-bound. SGD streams 3 parameter-sized buffers (reads x and grad, writes x). SRFB "
             "must also keep xbar: in eager PyTorch it is a multi-tensor lerp (reads xbar and x, writes xbar) and "
             "an add written into x (reads xbar and grad, writes x), 6 streams, a floor of 2; even one fused kernel "
             "(x = P(xbar - lr grad) first, then xbar <- lerp(xbar, x), the same iteration) streams 4, a floor of "
             "4/3, above the 1.3 target. Here the three 16 MB buffers also overflow the 32 MB L3 that SGD's two "
             "nearly fit in. Measured on a 2-core CPU: two runs of this benchmark gave 1.79 and 2.21.")
RATIO_NOTE = ("No target: < 1 means SRFB needs fewer gradient evaluations (samples) than extragradient to reach "
              "a relative distance 1e-6, each at its best grid point.")


def _best(make_game, make_solvers, steps: int, count: str, seeds=(0,), **run_options) -> tuple[float, str]:
    """Smallest mean ``count`` to TOL over the solvers given (a run that never gets there counts as inf)."""
    best = (float("inf"), "none")
    for label, make in make_solvers:
        counts = []
        for s in seeds:
            tr = games.run(make_game(), make, steps, generator=torch.Generator().manual_seed(s), residual=False,
                           **run_options)
            hit = tr.first_below(TOL, count)
            counts.append(float("inf") if hit is None else hit)
        best = min(best, (statistics.fmean(counts), label))
    return best


def _grids(L: float) -> tuple[list, list]:
    srfb = [(f"lr={f / L:.3g}, delta={d}", lambda g, lr=f / L, d=d: solvers.SRFB(g, lr=lr, delta=d))
            for d in DELTAS for f in LR_FACTORS]
    eg = [(f"lr={f / L:.3g}", lambda g, lr=f / L: solvers.ExtraGradient(g, lr=lr)) for f in LR_FACTORS]
    return srfb, eg


def gradient_ratios() -> dict:
    det_game = lambda: games.BilinearGame.random(10, generator=torch.Generator().manual_seed(0))
    srfb, eg = _grids(det_game().lipschitz())
    s_det, s_det_at = _best(det_game, srfb, 1500, "grad_evals")
    e_det, e_det_at = _best(det_game, eg, 1500, "grad_evals")

    wgan = lambda: games.WGAN1D(sufficient=True)
    schedule = functools.partial(solvers.batch_schedule, S0=1, k0=1, a=3.0, cap=10**15)
    srfb, eg = _grids(1.0)  # F(theta, phi) = (-phi, theta): L = 1
    s_st, s_st_at = _best(wgan, srfb, 1500, "samples", seeds=(0, 1, 2), schedule=schedule)
    e_st, e_st_at = _best(wgan, eg, 1500, "samples", seeds=(0, 1, 2), schedule=schedule)
    return {
        "srfb_vs_eg_gradient_ratio_det": s_det / e_det,
        "srfb_grad_evals_det": s_det, "srfb_best_det": s_det_at,
        "eg_grad_evals_det": e_det, "eg_best_det": e_det_at,
        "srfb_vs_eg_gradient_ratio_stoch": s_st / e_st,
        "srfb_samples_stoch": s_st, "srfb_best_stoch": s_st_at,
        "eg_samples_stoch": e_st, "eg_best_stoch": e_st_at,
        "ratio_note": RATIO_NOTE,
        "ratio_settings": f"relative distance {TOL:g}; det: random 10x10 bilinear game (seed 0), exact F; "
                          "stoch: 1-D WGAN, batch (k+1)^4, mean over seeds 0-2; grids lr = f/L, "
                          f"f in {LR_FACTORS}, SRFB delta in {DELTAS}",
    }


def _time_steps(opt: torch.optim.Optimizer, repeats: int = 30, rounds: int = 7) -> float:
    """Median over rounds of the mean time of ``repeats`` calls of ``opt.step()`` (seconds)."""
    for _ in range(5):
        opt.step()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeats):
            opt.step()
        times.append((time.perf_counter() - t0) / repeats)
    return statistics.median(times)


def step_overhead() -> dict:
    torch.manual_seed(0)
    params = [p for m in (models.dcgan_generator(32, 3, 100, 64), models.dcgan_discriminator(32, 3, 64))
              for p in m.parameters()]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-6
    n = sum(p.numel() for p in params)
    clip = solvers.BoxProjection(-0.01, 0.01)
    ratios, ratios_clip = [], []
    for _ in range(3):  # interleaved, so that load from other processes hits both alike
        sgd = _time_steps(torch.optim.SGD(params, lr=1e-6))
        srfb = _time_steps(solvers.SRFB(params, lr=1e-6, delta=0.618))
        srfb_clip = _time_steps(solvers.SRFB(params, lr=1e-6, delta=0.618, projection=clip))
        sgd_clip = _time_steps(_ClippedSGD(params, clip))
        ratios.append(srfb / sgd)
        ratios_clip.append(srfb_clip / sgd_clip)
    return {"srfb_step_overhead": statistics.median(ratios), "srfb_step_overhead_target": 1.3,
            "srfb_step_overhead_met": statistics.median(ratios) <= 1.3,
            "srfb_step_overhead_with_clipping": statistics.median(ratios_clip),
            "srfb_step_overhead_note": ("Target met. " if statistics.median(ratios) <= 1.3 else "Target missed. ")
            + STEP_NOTE,
            "step_overhead_settings": f"DCGAN G+D for 32x32x3, width 64: {n} parameters in {len(params)} tensors; "
                                      "SGD = torch.optim.SGD defaults; with clipping: SGD step + clamp_ of every tensor"}


class _ClippedSGD(torch.optim.SGD):
    """SGD followed by weight clipping: the WGAN baseline of SRFB with a box projection."""

    def __init__(self, params, clip: solvers.BoxProjection) -> None:
        super().__init__(params, lr=1e-6)
        self.clip = clip

    @torch.no_grad()
    def step(self, closure=None):
        super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                self.clip(p)


def run() -> dict:
    return {**gradient_ratios(), **step_overhead()}
