"""Many independent seeds of a small MLP GAN trained as ONE batched computation.

The K members' weights are stacked along a leading axis and every layer is one batched matrix
multiply, ``y_k = x_k W_k^T + b_k`` for k = 1..K (:func:`torch.baddbmm`). Because the members share
no parameters and the loop differentiates the SUM of their losses, each member's gradient is the
gradient of its own loss; Adam and SGD act elementwise, so each member follows exactly the
trajectory it would follow alone (up to float round-off of the batched kernels). Each member has its
own initialisation (``torch.manual_seed(seed_k)`` before building it, as a single run does), its own
noise and its own data order (:class:`gancore.train.Batches` with one seed per member).

The training itself is :func:`gancore.train.fit` with ``seed=[seed_1, ..., seed_K]``. Members may
also train on different objectives (:func:`grouped_loss`: a grid of alpha values in one run), and
:func:`ring_table` gives the ring metrics of every member.

Metrics along training are data: ``fit(..., evaluate=metrics.ring_evaluator(ring.means, ring.sigma, n, chunk=64), eval_every=N)``
evaluates every member at step 0, every N steps and at the end, and :func:`tidy_evals` turns the
run's evaluation log into one tidy table (one row per member, step and metric, with each member's
seed and setting as columns), from which :func:`gancore.plotting.metric_curves` draws curves.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from . import losses as glosses
from . import metrics, train

Optimizers = Callable[[list[nn.Parameter], list[nn.Parameter]], tuple[torch.optim.Optimizer, torch.optim.Optimizer]]

__all__ = ["BatchedMLP", "stack", "fit", "seconds_per_step", "sample", "grouped_loss", "ring_table",
           "tidy_evals"]


class BatchedMLP(nn.Module):
    """K copies of one ``nn.Sequential`` of Linear layers and activations, evaluated together on
    inputs of shape (K, B, in). Build it with :func:`stack`; ``member(k)`` gives copy k back as an
    ordinary ``nn.Sequential`` (for sampling, plotting, or checking against a single run)."""

    def __init__(self, template: nn.Sequential, weights: list[torch.Tensor], biases: list[torch.Tensor]):
        super().__init__()
        self.template = [m for m in template]  # kept out of the module tree: structure only
        self.weights = nn.ParameterList([nn.Parameter(w) for w in weights])  # (K, in, out)
        self.biases = nn.ParameterList([nn.Parameter(b) for b in biases])  # (K, 1, out)
        self.members = weights[0].shape[0]

    def forward(self, x: torch.Tensor, members: slice = slice(None)) -> torch.Tensor:
        """(K, B, in) -> (K, B, out); with ``members=slice(a, b)`` only those members, (b - a, B, in)."""
        chosen = range(*members.indices(self.members))
        if x.dim() != 3 or x.shape[0] != len(chosen):
            raise ValueError(f"Expected input of shape (K={len(chosen)}, B, features), got {tuple(x.shape)}.")
        # all members: use the parameters themselves, since slicing them would make backward
        # allocate and zero-fill a gradient of the full stacked size for every layer
        every = chosen == range(self.members)
        i = 0
        for m in self.template:
            if isinstance(m, nn.Linear):
                w, b = (self.weights[i], self.biases[i]) if every else (self.weights[i][members], self.biases[i][members])
                x = torch.baddbmm(b, x, w)
                i += 1
            else:
                x = m(x)
        return x

    def member(self, k: int) -> nn.Sequential:
        layers, i = [], 0
        for m in self.template:
            if isinstance(m, nn.Linear):
                lin = nn.Linear(m.in_features, m.out_features)
                with torch.no_grad():
                    lin.weight.copy_(self.weights[i][k].T)
                    lin.bias.copy_(self.biases[i][k, 0])
                layers.append(lin)
                i += 1
            else:
                layers.append(m)
        return nn.Sequential(*layers)


def stack(make: Callable[[], nn.Sequential], seeds: Sequence[int]) -> BatchedMLP:
    """Build one network per seed with ``torch.manual_seed(seed); make()`` and stack them. Only
    ``nn.Linear`` layers carry parameters; anything else (activations) must be parameter-free."""
    nets = []
    for s in seeds:
        torch.manual_seed(s)
        nets.append(make())
    template = nets[0]
    for m in template:
        if not isinstance(m, nn.Linear) and any(True for _ in m.parameters()):
            raise ValueError(f"Only Linear layers may have parameters in a batched MLP; {m} has some.")
    linears = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
    weights = [torch.stack([lin[i].weight.detach().T for lin in linears]).contiguous() for i in range(len(linears[0]))]
    biases = [torch.stack([lin[i].bias.detach()[None] for lin in linears]).contiguous() for i in range(len(linears[0]))]
    return BatchedMLP(template, weights, biases)


def fit(make_G: Callable[[], nn.Sequential], make_D: Callable[[], nn.Sequential], data, seeds: Sequence[int],
        *, loss, lr_G: float | None = None, lr_D: float | None = None, betas: tuple[float, float] = (0.9, 0.999),
        optimizers: Optimizers | None = None, **fit_options) -> tuple[BatchedMLP, BatchedMLP, train.TrainResult]:
    """Train ``len(seeds)`` GANs at once through :func:`gancore.train.fit`; ``fit_options`` go to it
    (steps, batch_size, latent_dim, policy, ...). The optimizers are Adam(``lr_G`` / ``lr_D``, ``betas``)
    (the alpha-GAN paper's), run as torch's fused kernel (one pass over each stacked tensor, the same
    update as the loop implementation up to round-off), or ``optimizers(G_params, D_params) -> (opt_G,
    opt_D)``, any ``torch.optim`` optimizers built on the stacked parameters (then give no ``lr_G`` /
    ``lr_D``). Members stay independent under any optimizer that acts elementwise (SGD, Adam, and
    :class:`gancore.solvers.SRFB`, :class:`~gancore.solvers.ExtraGradient`,
    :class:`~gancore.solvers.OptimisticGDA`); one that mixes entries of a tensor (a norm, a line search)
    would couple them. Member k's generator is built after ``torch.manual_seed(seeds[k])``, its
    discriminator after ``torch.manual_seed(seeds[k] + 1_000_000)``; its data order and noise come from
    ``seeds[k]``. Seeds may repeat (the same initialisation, data and noise under different losses of
    a :func:`grouped_loss`). Returns the batched generator, the batched discriminator and the run's
    result."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("Invalid seeds: an empty list; pass at least one seed.")
    adam = optimizers is None
    if (adam and None in (lr_G, lr_D)) or (not adam and (lr_G, lr_D) != (None, None)):
        raise ValueError("Give either lr_G and lr_D (Adam) or optimizers=callable(G_params, D_params) -> "
                         "(opt_G, opt_D), not both and not neither.")
    G = stack(make_G, seeds)
    D = stack(make_D, [s + 1_000_000 for s in seeds])  # D's initialisation stream, distinct from G's
    device = train.resolve_device(fit_options.pop("device", "auto"))
    G.to(device), D.to(device)
    if optimizers is None:
        opt_G = torch.optim.Adam(G.parameters(), lr_G, betas=betas, fused=True)
        opt_D = torch.optim.Adam(D.parameters(), lr_D, betas=betas, fused=True)
    else:
        opt_G, opt_D = optimizers(list(G.parameters()), list(D.parameters()))
    result = train.fit(G, D, data, loss=loss, opt_G=opt_G, opt_D=opt_D, seed=seeds, device=device, **fit_options)
    return G, D, result


def seconds_per_step(make_G: Callable[[], nn.Sequential], make_D: Callable[[], nn.Sequential], data,
                     seeds: Sequence[int], *, short: int = 5, long: int = 25, tries: int = 2,
                     **fit_options) -> float:
    """:func:`gancore.train.seconds_per_step` of :func:`fit`: the ensemble's steady-state seconds per
    step; ``fit_options`` go to :func:`fit` (loss, lr_G, lr_D, batch_size, ...).
    ``len(seeds) / seconds_per_step(...)`` is the ensemble's rate in seed-steps per second."""
    return train.seconds_per_step(
        lambda n: fit(make_G, make_D, data, seeds, steps=n, progress=False, **fit_options)[2], short, long, tries)


@torch.no_grad()
def sample(G: BatchedMLP, n: int, latent_dim: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples from each member, from the same fixed noise: a (K, n, out) tensor."""
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    device = G.weights[0].device
    return G(z.to(device).expand(G.members, n, latent_dim).contiguous())


def grouped_loss(parts: Sequence[glosses.GANLoss], sizes: Sequence[int]) -> glosses.GANLoss:
    """One objective for an ensemble whose members are split into consecutive groups: the first
    ``sizes[0]`` members train on ``parts[0]``, the next ``sizes[1]`` on ``parts[1]``, and so on.
    Logits (K, B, 1) -> per-member losses (K,), K = sum(sizes); each member's loss is exactly what
    its group's loss gives on its logits, so a whole grid of (alpha_D, alpha_G) runs as one batched
    computation."""
    parts, sizes = list(parts), [int(n) for n in sizes]
    if len(parts) != len(sizes) or not parts or min(sizes) < 1:
        raise ValueError(f"Invalid groups: {len(parts)} losses and sizes {sizes}; give one size >= 1 per loss.")
    bounds = [0]
    for n in sizes:
        bounds.append(bounds[-1] + n)

    def check(x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[0] != bounds[-1]:
            raise ValueError(f"Expected logits of shape (K={bounds[-1]}, B, 1), got {tuple(x.shape)}.")

    def d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        check(real), check(fake)
        return torch.cat([p.d(real[a:b], fake[a:b]) for p, a, b in zip(parts, bounds, bounds[1:])])

    def g(fake: torch.Tensor) -> torch.Tensor:
        check(fake)
        return torch.cat([p.g(fake[a:b]) for p, a, b in zip(parts, bounds, bounds[1:])])

    name = "grouped(" + ", ".join(p.name for p in parts) + ")"
    return glosses.GANLoss(name, d, g, {"parts": [(p.name, p.options) for p in parts], "sizes": sizes})


def ring_table(G: BatchedMLP, ring, n: int, latent_dim: int = 2, seed: int = 0,
               chunk: int = 64) -> pd.DataFrame:
    """The ring metrics (:func:`gancore.metrics.generator_ring_metrics`) of every member on ``n``
    samples from the same fixed noise (:func:`gancore.metrics.fixed_noise` with ``seed``): one row per
    member with ``modes``, ``hqs``, ``success``, ``failure``, ``kl``. ``ring`` is a data set carrying
    ``.means`` and ``.sigma`` (``data.load("ring")``). Members are evaluated ``chunk`` at a time to
    bound memory. Along training, :func:`gancore.metrics.ring_evaluator` with ``chunk`` gives the
    same numbers."""
    found = metrics.generator_ring_metrics(G, metrics.fixed_noise(n, latent_dim, seed), ring.means, ring.sigma, chunk)
    return pd.DataFrame({k: v.cpu().tolist() for k, v in found.items()})


def tidy_evals(evals: pd.DataFrame, labels: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The evaluation log of a run (``TrainResult.evals``: per-member lists for an ensemble, as
    :func:`gancore.metrics.ring_evaluator` gives them; plain numbers for a single run, one member) as one tidy table:
    one row per member, evaluation and metric, with columns ``labels[k]``'s keys (member k's seed and
    setting: ``seed``, ``alpha_d``, ...), ``step``, ``grad_evals``, ``seconds``, ``metric`` and
    ``value``; rows ordered by member, then step, then metric in the log's column order. Curves of
    any metric against steps or gradient evaluations are one ``groupby`` of it, or
    :func:`gancore.plotting.metric_curves`."""
    if evals.empty:
        raise ValueError("The evaluation log is empty: pass evaluate=... (and eval_every=N) to fit.")
    long = metrics.per_member(evals)
    members = int(long["member"].max()) + 1
    if members != len(labels):
        raise ValueError(f"The evaluation log has {members} member(s) but {len(labels)} label mapping(s) were "
                         f"given: give one mapping (seed, setting) per member, in member order.")
    keys = list(labels[0]) if labels else []
    odd = [k for k, row in enumerate(labels) if list(row) != keys]
    if odd:
        raise ValueError(f"Member {odd[0]}'s labels have keys {list(labels[odd[0]])}, member 0's {keys}: "
                         f"give every member the same label keys, in the same order.")
    table = long.melt(id_vars=["step", "member", "grad_evals", "seconds"], var_name="metric", value_name="value")
    table = table.sort_values(["member", "step"], kind="stable").reset_index(drop=True)
    front = pd.DataFrame([dict(row) for row in labels], columns=keys).iloc[table["member"].to_numpy()]
    return pd.concat([front.reset_index(drop=True), table.drop(columns="member")], axis=1)
