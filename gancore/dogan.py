"""DO-GAN (Aung et al., CVPR 2022): the double oracle with trained networks as pure strategies.

Built on the matrix games and the generic loop of :mod:`gancore.oracle` and the one training loop
:func:`gancore.train.fit`. This module holds, in order:

* sampling from a meta-strategy over generators: :class:`MixedGenerator`;
* continual learning by EWC (Kirkpatrick et al., PNAS 2017): :func:`diagonal_fisher`, :class:`EWC`, from
  :mod:`gancore.ewc` (re-exported here);
* networks as strategies kept off the device, :class:`Strategy` (files through
  :mod:`gancore.storage`), and fixed mixed opponents for the oracles: :class:`DiscriminatorMixture`,
  :class:`GeneratorMixture`, :class:`MixtureLoss`;
* the DO-GAN loop: :func:`dogan` returning a :class:`DOGANResult`; its meta payoff
  (:class:`MetaPayoff`, public: :mod:`gancore.exploit` scores responses with it) and oracles
  (:class:`_DOGANRun`) are small classes. The base GANs DO-GAN is applied to: :func:`gancore.models.gan_pair`;
* DO-GAN on the ring with the DO-GAN chapter's settings, :func:`ring_dogan`, and the stored run of its
  meta-solver, support-cap and EWC ablation over seeds, :func:`ring_meta` (``sweep`` experiment
  ``double_oracle.meta``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import data, losses, metrics, models, storage, train
from .ewc import EWC, diagonal_fisher
from .oracle import PROB_ATOL, DoubleOracleResult, double_oracle

__all__ = ["MixedGenerator", "diagonal_fisher", "EWC", "Strategy", "DiscriminatorMixture", "GeneratorMixture",
           "MixtureLoss", "MetaPayoff", "dogan", "DOGANResult", "ring_quality", "ring_players", "ring_dogan",
           "ring_meta", "ring_meta_steps"]


# --------------------------------------------------------------------------------------------
# Networks: the mixed generator
# --------------------------------------------------------------------------------------------

class MixedGenerator(nn.Module):
    """A meta-strategy over generators: a sample is ``G_i(z)`` with ``i ~ probs`` and ``z ~ N(0, I)``.

    The generators are registered as submodules (``state_dict`` holds them all, also those of
    probability 0) and ``probs`` as a float64 buffer.
    """

    def __init__(self, generators: Sequence[nn.Module], probs: Any) -> None:
        super().__init__()
        if len(generators) == 0:
            raise ValueError("MixedGenerator needs at least one generator")
        if isinstance(probs, torch.Tensor):
            p = probs.detach().to("cpu", torch.float64)
        else:
            p = torch.as_tensor(np.asarray(probs, dtype=np.float64))
        if p.shape != (len(generators),):
            raise ValueError(f"probs must have shape ({len(generators)},), one per generator, "
                             f"got {tuple(p.shape)}")
        if not torch.isfinite(p).all() or (p < 0).any() or abs(float(p.sum()) - 1.0) > PROB_ATOL:
            raise ValueError(f"probs must be a probability vector (finite, >= 0, sum 1), got {p.tolist()}")
        self.generators = nn.ModuleList(generators)
        self.register_buffer("probs", p / p.sum())

    def forward(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """``out[k] = G_{index[k]}(z[k])``; each generator runs once, on all its latents together."""
        if index.shape != z.shape[:1]:
            raise ValueError(f"index must have shape ({z.shape[0]},), one per latent, "
                             f"got {tuple(index.shape)}")
        out = None
        for i in torch.unique(index).tolist():
            mask = index == i
            x = self.generators[i](z[mask])
            if out is None:
                out = x.new_empty((z.shape[0],) + tuple(x.shape[1:]))
            out[mask] = x
        return out

    def sample(self, n: int, latent_dim: int | Sequence[int], generator: torch.Generator | None = None,
               return_index: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples of the mixture: ``index ~ probs`` (n draws), then ``z``, both from ``generator``.

        Deterministic for a given ``torch.Generator`` state (as long as the generators themselves are,
        e.g. in eval mode). ``latent_dim`` is an int or a shape such as ``(100, 1, 1)``. With
        ``return_index`` also returns which generator produced each sample.
        """
        if n < 1:
            raise ValueError(f"Invalid number of samples: {n}")
        shape = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
        device = generator.device if generator is not None else torch.device("cpu")
        index = torch.multinomial(self.probs.to(device), n, replacement=True, generator=generator)
        z = torch.randn((n,) + shape, generator=generator, device=device)
        target = self.probs.device
        index, z = index.to(target), z.to(target)
        x = self(z, index)
        return (x, index) if return_index else x


# --------------------------------------------------------------------------------------------
# Strategies and mixed opponents
# --------------------------------------------------------------------------------------------

@dataclass
class Strategy:
    """A pure strategy of the meta game: a trained network kept OFF the device.

    ``state`` is a CPU state dict, or the path of a file holding one (``store_dir`` of
    :func:`dogan`, written by :func:`gancore.storage.save_torch`, so that a truncated or modified
    file is refused with a :class:`gancore.storage.CorruptFileError` naming it); ``born`` is the DO
    iteration that produced it (0: the initial network) and ``name`` a label such as ``"G3"``.
    """

    state: dict[str, torch.Tensor] | Path
    born: int
    name: str

    @classmethod
    def of(cls, net: nn.Module, born: int, name: str) -> "Strategy":
        """``net``'s parameters and buffers now, copied to the CPU, as a strategy."""
        return cls({k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}, born, name)

    def load(self) -> dict[str, torch.Tensor]:
        """The state dict (read from disk, checksum verified, when stored there)."""
        if isinstance(self.state, Path):
            return storage.load_torch(self.state, map_location="cpu")
        return self.state

    def build(self, make: Callable[[], nn.Module], device: torch.device | str = "cpu") -> nn.Module:
        """A network from ``make()`` with this strategy's parameters, on ``device``, in eval mode."""
        net = make()
        net.load_state_dict(self.load())
        return net.to(device).eval()


class _Frozen(nn.Module):
    """Networks that stay in eval mode (batch-norm running statistics, spectral-norm vectors and
    all parameters fixed) whatever ``train()`` is called with."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def train(self, mode: bool = True) -> "_Frozen":
        super().train(mode)
        self.nets.eval()
        return self


class DiscriminatorMixture(_Frozen):
    """Fixed discriminators ``D_1..D_K``: ``x -> (K, B, 1)``, the logits of every member."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([D(x) for D in self.nets])


class GeneratorMixture(_Frozen):
    """Fixed generators ``G_1..G_K``: ``z -> (K * B, ...)``, every member's samples, member-major."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([G(z) for G in self.nets])


class MixtureLoss:
    """A GAN loss in expectation over a mixed opponent with probabilities ``weights`` (K,).

    Logits of shape (K, B, 1) (a :class:`DiscriminatorMixture`) or (K * B, 1) (a discriminator on
    a :class:`GeneratorMixture`'s samples) are split by member; with ``l_k`` the loss against member
    k, the value is ``sum_k weights_k l_k``: the expected loss of a player facing the mixture, exact
    rather than sampled, and its gradient is the expected gradient.
    """

    def __init__(self, loss: Any, weights: Any) -> None:
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64), dtype=torch.float32)
        if w.dim() != 1 or len(w) == 0 or (w < 0).any() or abs(float(w.sum()) - 1.0) > PROB_ATOL:
            raise ValueError(f"weights must be a non-empty probability vector, got {w.tolist()}")
        self.loss, self.weights = loss, w
        self.name = f"mixture-{getattr(loss, 'name', type(loss).__name__)}"

    def _members(self, logits: torch.Tensor) -> torch.Tensor:
        K = len(self.weights)
        if logits.dim() == 3 and logits.shape[0] == K:
            return logits
        if logits.dim() == 2 and logits.shape[0] % K == 0:
            return logits.reshape(K, -1, logits.shape[-1])
        raise ValueError(f"Cannot split logits of shape {tuple(logits.shape)} into {K} members")

    def _expect(self, values: torch.Tensor) -> torch.Tensor:
        return (self.weights.to(values) * values).sum()

    def d(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return self._expect(self.loss.d(real_logits, self._members(fake_logits)))

    def g(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return self._expect(self.loss.g(self._members(fake_logits)))


# --------------------------------------------------------------------------------------------
# The DO-GAN loop
# --------------------------------------------------------------------------------------------

@dataclass
class DOGANResult(DoubleOracleResult):
    """:class:`gancore.oracle.DoubleOracleResult` of :func:`dogan`: ``rows`` are generator and
    ``cols`` discriminator :class:`Strategy` records; ``make_G`` / ``make_D`` rebuild the networks;
    ``training_steps`` counts the :func:`gancore.train.fit` steps of all (initial and oracle)
    training; ``initial`` is ``(G_0, D_0)``, to start another run from; ``latent`` the latent shape."""

    make_G: Callable[[], nn.Module] | None = None
    make_D: Callable[[], nn.Module] | None = None
    oracle_steps: int = 0
    training_steps: int = 0
    initial: tuple[Strategy, Strategy] | None = None
    latent: tuple[int, ...] = ()

    @property
    def generators(self) -> list[Strategy]:
        return self.rows

    @property
    def discriminators(self) -> list[Strategy]:
        return self.cols

    def stored_bytes(self) -> int:
        """Bytes of all kept strategies' state dicts (what the loop keeps off the device)."""
        return sum(v.numel() * v.element_size() for s in self.rows + self.cols for v in s.load().values())

    def mixed_generator(self, device: torch.device | str = "cpu") -> MixedGenerator:
        """The final meta-strategy over generators, to sample from (eval mode, on ``device``)."""
        return MixedGenerator([s.build(self.make_G, device) for s in self.rows], self.sigma_row).to(device).eval()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 12345, device: torch.device | str = "cpu",
               return_index: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples (on the CPU) of :meth:`mixed_generator` on ``device``, drawn from a CPU
        generator seeded with ``seed``: the same samples for the same seed (see :meth:`MixedGenerator.sample`)."""
        out = self.mixed_generator(device).sample(n, self.latent, torch.Generator().manual_seed(seed), return_index)
        return (out[0].cpu(), out[1].cpu()) if return_index else out.cpu()


def _support(strategies: Sequence[Strategy], probs: np.ndarray) -> tuple[list[Strategy], np.ndarray]:
    """The strategies of positive probability and their renormalised probabilities."""
    keep = np.flatnonzero(probs > 1e-9)
    p = probs[keep]
    return [strategies[i] for i in keep], p / p.sum()


def _adam(net: nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr, betas=betas)


def _idle(net: nn.Module) -> torch.optim.Optimizer:
    """The fixed opponent's optimizer in an oracle's fit: :class:`gancore.train.OnlyOne` never steps it."""
    return torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.0)


class MetaPayoff:
    """``U[i, j] = loss.d(D_j(real), D_j(G_i(z)))`` on ONE fixed evaluation batch ``(real, z)``.

    All entries share the batch (common random numbers) and all networks run in eval mode; each
    generator's samples and each discriminator's real logits are computed once per run (cached by
    strategy name), so a new row or column costs one network pass per new entry.
    """

    def __init__(self, make_G: Callable[[], nn.Module], make_D: Callable[[], nn.Module], loss: Any,
                 real: torch.Tensor, z: torch.Tensor) -> None:
        self.make_G, self.make_D, self.loss, self.real, self.z = make_G, make_D, loss, real, z
        self.fakes: dict[str, torch.Tensor] = {}
        self.real_logits: dict[str, torch.Tensor] = {}

    @classmethod
    def on_data(cls, make_G: Callable[[], nn.Module], make_D: Callable[[], nn.Module], loss: Any, data: Any,
                latent: tuple[int, ...], n: int, seed: int, device: torch.device | str = "cpu") -> "MetaPayoff":
        """The payoff on the evaluation batch :func:`dogan` uses for ``seed`` and ``n_payoff = n``:
        ``min(n, len(data))`` real samples and as many latents, both drawn with ``seed + 7``."""
        n = min(n, len(data))
        return cls(make_G, make_D, loss, train.Batches(data, n, seed + 7)(0).to(device),
                   train.Noise(latent, seed + 7)(0, n).to(device))

    @torch.no_grad()
    def __call__(self, gens: Sequence[Strategy], discs: Sequence[Strategy]) -> np.ndarray:
        device = self.real.device
        for s in gens:
            if s.name not in self.fakes:
                self.fakes[s.name] = s.build(self.make_G, device)(self.z)
        out = np.empty((len(gens), len(discs)))
        for j, s in enumerate(discs):
            D = s.build(self.make_D, device)
            if s.name not in self.real_logits:
                self.real_logits[s.name] = D(self.real)
            for i, g in enumerate(gens):
                out[i, j] = float(self.loss.d(self.real_logits[s.name], D(self.fakes[g.name])))
        return out


@dataclass
class _DOGANRun:
    """The oracles of one DO-GAN run and what they share: settings, where strategies are kept, and
    the count of :func:`gancore.train.fit` steps. See :func:`dogan` for the meaning of each field."""

    make_G: Callable[[], nn.Module]
    make_D: Callable[[], nn.Module]
    data: Any
    loss: Any
    latent: tuple[int, ...]
    oracle_steps: int
    batch_size: int
    lr_G: float
    lr_D: float
    betas: tuple[float, float]
    ewc_lambda: float
    fisher_batches: int
    seed: int
    device: torch.device
    folder: Path | None
    steps_used: int = 0

    def keep(self, net: nn.Module, born: int, name: str) -> Strategy:
        """``net`` as a :class:`Strategy`: a CPU state dict, or a file ``<folder>/<name>.pt``."""
        kept = Strategy.of(net, born, name)
        return kept if self.folder is None else Strategy(storage.save_torch(kept.state, self.folder / f"{name}.pt"),
                                                         born, name)

    def start(self, init_steps: int, initial: tuple[Strategy, Strategy] | None) -> tuple[Strategy, Strategy]:
        """``(G_0, D_0)``: ``initial`` loaded, or a base GAN trained for ``init_steps`` alternating steps."""
        torch.manual_seed(self.seed)
        G0, D0 = self.make_G(), self.make_D()
        if initial is not None:
            G0.load_state_dict(initial[0].load()), D0.load_state_dict(initial[1].load())
        elif init_steps > 0:
            train.fit(G0, D0, self.data, loss=self.loss, opt_G=_adam(G0, self.lr_G, self.betas),
                      opt_D=_adam(D0, self.lr_D, self.betas), steps=init_steps, batch_size=self.batch_size,
                      latent_dim=self.latent, policy="alternating", seed=self.seed, device=self.device,
                      progress=False)
        self.steps_used += init_steps
        return self.keep(G0, 0, "G0"), self.keep(D0, 0, "D0")

    def _ewc(self, net: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
             batches: Callable[[], list[Any]]) -> EWC | None:
        """EWC anchored at ``net`` with the Fisher of ``loss_fn`` over ``batches()`` (in eval mode),
        or None when ``ewc_lambda`` is 0."""
        if self.ewc_lambda == 0:
            return None
        was = net.training
        net.eval()
        fisher = diagonal_fisher(net, loss_fn, batches())
        net.train(was)
        return EWC(net, fisher, self.ewc_lambda).to(self.device)

    def generator_oracle(self, gens: Sequence[Strategy], sigma_G: np.ndarray, discs: Sequence[Strategy],
                         sigma_D: np.ndarray, t: int) -> Strategy:
        """``G_t``: the most probable generator trained against the discriminator mixture ``sigma_D``."""
        dev, seed = self.device, self.seed + 1000 * t
        support, w = _support(discs, sigma_D)
        G = gens[int(np.argmax(sigma_G))].build(self.make_G, dev).train()
        D_mix = DiscriminatorMixture([s.build(self.make_D, dev) for s in support])
        mix_loss = MixtureLoss(self.loss, w)
        noise = train.Noise(self.latent, seed)
        ewc = self._ewc(G, lambda net, z: mix_loss.g(D_mix(net(z.to(dev)))),
                        lambda: [noise(-1 - k, self.batch_size) for k in range(self.fisher_batches)])
        train.fit(G, D_mix, self.data, loss=mix_loss, opt_G=_adam(G, self.lr_G, self.betas), opt_D=_idle(D_mix),
                  steps=self.oracle_steps, batch_size=self.batch_size, latent_dim=self.latent,
                  policy=train.OnlyOne("G"), seed=seed, device=dev, penalty_G=ewc, progress=False)
        self.steps_used += self.oracle_steps
        return self.keep(G, t, f"G{t}")

    def discriminator_oracle(self, gens: Sequence[Strategy], sigma_G: np.ndarray, discs: Sequence[Strategy],
                             sigma_D: np.ndarray, t: int) -> Strategy:
        """``D_t``: the most probable discriminator trained against the generator mixture ``sigma_G``."""
        dev, seed = self.device, self.seed + 1000 * t + 1
        support, w = _support(gens, sigma_G)
        D = discs[int(np.argmax(sigma_D))].build(self.make_D, dev).train()
        G_mix = GeneratorMixture([s.build(self.make_G, dev) for s in support])
        mix_loss = MixtureLoss(self.loss, w)

        @torch.no_grad()
        def fisher_data() -> list[tuple[torch.Tensor, torch.Tensor]]:
            batches, noise = train.Batches(self.data, self.batch_size, seed, dev), train.Noise(self.latent, seed)
            return [(batches(k), G_mix(noise(-1 - k, self.batch_size).to(dev))) for k in range(self.fisher_batches)]

        ewc = self._ewc(D, lambda net, b: mix_loss.d(net(b[0]), net(b[1])), fisher_data)
        # fit calls penalty_D(D, real, fake, generator); the EWC penalty depends on D's weights only
        penalty = None if ewc is None else (lambda net, real, fake, generator: ewc(net))
        train.fit(G_mix, D, self.data, loss=mix_loss, opt_G=_idle(G_mix), opt_D=_adam(D, self.lr_D, self.betas),
                  steps=self.oracle_steps, batch_size=self.batch_size, latent_dim=self.latent,
                  policy=train.OnlyOne("D"), seed=seed, device=dev, penalty_D=penalty, progress=False)
        self.steps_used += self.oracle_steps
        return self.keep(D, t, f"D{t}")

    def result(self, r: DoubleOracleResult, initial: tuple[Strategy, Strategy]) -> DOGANResult:
        return DOGANResult(**vars(r), make_G=self.make_G, make_D=self.make_D, oracle_steps=self.oracle_steps,
                           training_steps=self.steps_used, initial=initial, latent=self.latent)


def dogan(make_G: Callable[[], nn.Module], make_D: Callable[[], nn.Module], data: Any, *, loss: Any,
          latent_dim: int | Sequence[int], iterations: int, oracle_steps: int, init_steps: int, batch_size: int,
          lr_G: float, lr_D: float, betas: tuple[float, float] = (0.5, 0.999), eps: float = 0.0,
          cap: int | None = None, by_mixture: bool = False, ewc_lambda: float = 0.0, fisher_batches: int = 4,
          n_payoff: int = 512, seed: int = 0, device: str | torch.device = "cpu",
          store_dir: str | os.PathLike | None = None, evaluate: Callable[[int, DOGANResult], dict] | None = None,
          initial: tuple[Strategy, Strategy] | None = None, meta_solver: str = "nash") -> DOGANResult:
    """DO-GAN (Aung et al. 2022): the double oracle loop with trained networks as pure strategies.

    * Strategies: ``G_0``, ``D_0`` are trained together for ``init_steps`` steps of
      :func:`gancore.train.fit` (alternating); every strategy is then kept as a CPU state dict
      (or a file in ``store_dir``, through :func:`gancore.storage.save_torch`), so device memory
      holds only the networks in use.
    * Meta payoff: ``U[i, j] = loss.d(D_j(x), D_j(G_i(z)))``, the discriminator's loss (the
      generator maximises it, the discriminator minimises it), on ONE fixed evaluation batch of
      ``n_payoff`` real samples and latents shared by all entries (common random numbers), all
      networks in eval mode.
    * Oracles: the generator oracle is warm-started from the most probable generator and trained
      with :func:`gancore.train.fit` for ``oracle_steps`` steps against the discriminator mixture
      ``sigma_D`` (:class:`DiscriminatorMixture` with :class:`MixtureLoss`, the exact expected loss;
      policy :class:`gancore.train.OnlyOne` so only the generator moves); the discriminator oracle
      likewise against ``sigma_G`` (:class:`GeneratorMixture`). Fresh Adam(lr, betas) per oracle.
    * Continual learning: with ``ewc_lambda > 0`` each oracle's loss gets :class:`EWC` anchored at
      its warm start (the previous solution), the diagonal Fisher taken from ``fisher_batches``
      batches of its own loss against the current mixture (``penalty_G`` / ``penalty_D`` of fit).
    * Stopping and pruning: :func:`gancore.oracle.double_oracle` with ``eps``, ``cap`` and ``by_mixture``;
      ``meta_solver`` (:func:`gancore.oracle.meta_strategies`) replaces the LP's meta-strategies by
      the uniform mixture or the newest strategy (the oracles warm-start from the first most probable).

    ``initial=(G_0, D_0)`` (e.g. ``other_result.initial``) starts from given strategies instead of
    training them, so that runs differing only in their DO settings share the start; their
    ``init_steps`` then still count in ``training_steps``. ``evaluate(t, result_so_far)`` adds
    columns to each iteration's history row (e.g. ring metrics of ``result_so_far.mixed_generator()``).
    Each oracle's fit seed is ``seed + 1000 * t`` (+1 for D).
    """
    if oracle_steps < 1 or init_steps < 0 or fisher_batches < 1 or n_payoff < 1:
        raise ValueError(f"Invalid sizes: oracle_steps={oracle_steps}, init_steps={init_steps}, "
                         f"fisher_batches={fisher_batches}, n_payoff={n_payoff}")
    if not ewc_lambda >= 0:
        raise ValueError(f"Invalid EWC strength ewc_lambda: {ewc_lambda}")
    dev = train.resolve_device(device)
    latent = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
    run = _DOGANRun(make_G, make_D, data, loss, latent, oracle_steps, batch_size, lr_G, lr_D, betas,
                    ewc_lambda, fisher_batches, seed, dev, Path(store_dir) if store_dir is not None else None)
    start = run.start(init_steps, initial)
    payoff = MetaPayoff.on_data(make_G, make_D, loss, data, latent, n_payoff, seed, dev)
    callback = None if evaluate is None else (lambda t, r: evaluate(t, run.result(r, start)))
    result = double_oracle(payoff, run.generator_oracle, run.discriminator_oracle, *start,
                           iterations=iterations, eps=eps, cap=cap, by_mixture=by_mixture, callback=callback,
                           meta_solver=meta_solver)
    return run.result(result, start)


# --------------------------------------------------------------------------------------------
# DO-GAN on the ring: the DO-GAN chapter's runs
# --------------------------------------------------------------------------------------------

def ring_quality(samples: torch.Tensor, ring: Any) -> dict[str, float]:
    """:func:`gancore.metrics.ring_metrics` of ``samples`` on the ring data set ``ring`` as floats."""
    return {k: float(v) for k, v in metrics.ring_metrics(samples, ring.means, ring.sigma).items()}


def ring_players(settings: Any) -> tuple[Any, Any]:
    """``(make_G, make_D)``: the vanilla MLP pair of width ``ring.width`` and depth ``ring.depth``."""
    r = settings["ring"]
    return models.gan_pair("vanilla", (2,), latent_dim=2, width=r["width"], depth=r["depth"])


def ring_dogan(settings: Any, ring: Any, *, cap: int | None, ewc_lambda: float, seed: int = 0, device: Any = "cpu",
               evaluate: bool = False, initial: Any = None, meta_solver: str = "nash") -> DOGANResult:
    """:func:`dogan` on the ring with the DO-GAN chapter's settings (``ring.*``, ``lr``, ``betas``, ``eps``,
    ``batch_size``, ``fisher_batches``, ``n_payoff``) and the non-saturating loss, with support cap ``cap``,
    EWC strength ``ewc_lambda`` and ``meta_solver``; ``evaluate``: ring metrics of the mixture after each
    iteration (``n_eval`` samples) as history columns; ``initial``: start from another run's ``(G_0, D_0)``."""
    P, r = settings, settings["ring"]
    make_G, make_D = ring_players(P)
    check = (lambda t, result: ring_quality(result.sample(P["n_eval"]), ring)) if evaluate else None
    return dogan(make_G, make_D, ring, loss=losses.gan_loss("ns"), latent_dim=2, iterations=r["iterations"],
                 oracle_steps=r["oracle_steps"], init_steps=r["init_steps"], batch_size=P["batch_size"], lr_G=P["lr"],
                 lr_D=P["lr"], betas=P["betas"], eps=P["eps"], cap=cap, ewc_lambda=ewc_lambda,
                 fisher_batches=P["fisher_batches"], n_payoff=P["n_payoff"], seed=seed, device=device,
                 evaluate=check, initial=initial, meta_solver=meta_solver)


def _ring_variants(P: Any) -> list[tuple[str, str, int | None, float]]:
    """``(variant, meta-solver, cap, EWC lambda)``: the chapter's run, then one change each."""
    cap, lam = P["ring"]["cap"], P["ewc_lambda"]
    caps = [(f"cap {c}" if c else "no cap", "nash", c, lam) for c in P["ablation_caps"]]
    return [("nash", "nash", cap, lam)] + [(m, m, cap, lam) for m in P["meta_solvers"] if m != "nash"] + caps + [
        ("no EWC", "nash", cap, 0.0)]


def ring_meta_steps(settings: Any, n: int) -> int:
    """The ``train.fit`` steps of :func:`ring_meta` on ``n`` seeds (the sweep's progress unit)."""
    r = settings["ring"]
    return n * (r["init_steps"] + len(_ring_variants(settings)) * 2 * r["iterations"] * r["oracle_steps"])


def ring_meta(settings: Any, seeds: Sequence[int], device: Any = "cpu") -> dict[str, pd.DataFrame]:
    """Per seed, :func:`ring_dogan` with the chapter's ``ring.cap`` and ``ewc_lambda`` and the Nash
    meta-solver, and from its ``(G_0, D_0)`` the same run with each other meta-solver of ``meta_solvers``,
    each cap of ``ablation_caps`` and without EWC. Tables: ``history`` (seed, variant, iteration, gradient
    evaluations ``2 t oracle_steps`` of the loop's oracles, both gains and their sum, the estimated
    exploitability of the previous meta-strategies) and ``final`` (sets' sizes, mean exploitability
    over the iterations, ring metrics of the final mixture on ``n_eval`` samples)."""
    P, ring = settings, data.load("ring")
    history, final = [], []
    for seed in seeds:
        first = None
        for variant, solver, cap, lam in _ring_variants(P):
            run = ring_dogan(P, ring, cap=cap, ewc_lambda=lam, seed=seed, device=device, meta_solver=solver,
                             initial=None if first is None else first.initial)
            first = run if first is None else first
            h = run.history[["iteration", "row_gain", "col_gain", "rows", "cols"]].iloc[1:].copy()
            h["exploitability"] = h.row_gain + h.col_gain
            h["gradient evaluations"] = 2 * h.iteration * P["ring"]["oracle_steps"]
            keys = {"seed": seed, "variant": variant, "meta-solver": solver, "cap": -1 if cap is None else cap,
                    "EWC lambda": lam}
            history.append(h.assign(**keys))
            final.append({**keys, "generators": len(run.generators), "discriminators": len(run.discriminators),
                          "mean exploitability": float(h.exploitability.mean()),
                          **ring_quality(run.sample(P["n_eval"]), ring)})
    return {"history": pd.concat(history, ignore_index=True), "final": pd.DataFrame(final)}
