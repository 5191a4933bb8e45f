"""Continual learning by elastic weight consolidation (Kirkpatrick et al., PNAS 2017): the diagonal
Fisher information :func:`diagonal_fisher` and the penalty :class:`EWC`, as DO-GAN's oracles use
them (:mod:`gancore.dogan`) to keep a warm-started network near what its predecessor knew."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

__all__ = ["diagonal_fisher", "EWC"]


def _trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``model``'s named parameters that require gradients, else ``ValueError``."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("The model has no parameters that require gradients")
    return named


def diagonal_fisher(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                    batches: Iterable[Any]) -> dict[str, torch.Tensor]:
    """Diagonal (empirical) Fisher information at the model's current parameters theta*.

    ``F_i = mean_b (d loss_fn(model, b) / d theta_i)^2`` over the batches, where ``loss_fn`` returns the
    negative log-likelihood (or any training loss) of one batch as a scalar; Kirkpatrick et al. 2017
    use per-sample gradients, i.e. batches of one sample. Gradients are taken with
    ``torch.autograd.grad``, so the parameters' ``.grad`` are left untouched; the model's train/eval
    mode is the caller's choice.

    Returns:
        ``{name: F}`` for every parameter with ``requires_grad``, detached, shaped like the parameter.
    """
    named = _trainable(model)
    params = [p for _, p in named]
    fisher = [torch.zeros_like(p) for p in params]
    count = 0
    for batch in batches:
        grads = torch.autograd.grad(loss_fn(model, batch), params, allow_unused=True)
        for f, g in zip(fisher, grads):
            if g is not None:
                f.add_(g.detach() ** 2)
        count += 1
    if count == 0:
        raise ValueError("No batches given: the Fisher information is a mean over at least one batch")
    return {name: f / count for (name, _), f in zip(named, fisher)}


class EWC(nn.Module):
    """Elastic weight consolidation penalty (Kirkpatrick et al. 2017, Eq. 3) anchored at ``model``.

    ``ewc(model) = (lam / 2) * sum_i F_i (theta_i - theta*_i)^2``, to be added to the new task's loss;
    theta* are the parameters of ``model`` when the EWC is built and ``F`` the diagonal Fisher
    information there (:func:`diagonal_fisher`). Its gradient is ``lam * F * (theta - theta*)``.
    The anchor and the Fisher information are buffers ``anchor_k`` / ``fisher_k`` (k-th parameter
    with ``requires_grad`` in ``model.named_parameters()`` order), so ``state_dict`` round-trips.
    """

    def __init__(self, model: nn.Module, fisher: dict[str, torch.Tensor], lam: float) -> None:
        super().__init__()
        if not lam >= 0:
            raise ValueError(f"Invalid EWC strength lam: {lam}")
        named = _trainable(model)
        names = {name for name, _ in named}
        if set(fisher) != names:
            raise ValueError(
                f"fisher must have one entry per trainable parameter of the model; missing "
                f"{sorted(names - set(fisher))}, unexpected {sorted(set(fisher) - names)}"
            )
        self.lam = float(lam)
        self.names = [name for name, _ in named]
        for k, (name, p) in enumerate(named):
            if fisher[name].shape != p.shape:
                raise ValueError(f"fisher[{name!r}] has shape {tuple(fisher[name].shape)}, "
                                 f"the parameter {tuple(p.shape)}")
            self.register_buffer(f"anchor_{k}", p.detach().clone())
            self.register_buffer(f"fisher_{k}", fisher[name].detach().clone().to(p))

    def forward(self, model: nn.Module) -> torch.Tensor:
        """The penalty at ``model``'s current parameters, a scalar tensor differentiable in them."""
        named = _trainable(model)
        if [name for name, _ in named] != self.names:
            raise ValueError("The model's trainable parameters differ from those the EWC was built on")
        total = sum(
            (getattr(self, f"fisher_{k}") * (p - getattr(self, f"anchor_{k}")) ** 2).sum()
            for k, (_, p) in enumerate(named)
        )
        return 0.5 * self.lam * total

    def extra_repr(self) -> str:
        return f"lam={self.lam}, parameters={len(self.names)}"
