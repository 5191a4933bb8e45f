"""The random streams of a training run, each a pure function of ``(seed, batch index)``.

:func:`gancore.train.fit` draws nothing from torch's global generator: the data order
(:class:`Batches`), the latent noise (:class:`Noise`) and the generator handed to a discriminator
penalty (:func:`penalty_generator`, e.g. WGAN-GP's interpolation weights) are all seeded from the run's
seed and the batch index alone, on the CPU. Batch ``i`` is therefore the same whether the run got
there in one go or was interrupted and resumed, and on every device.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Dataset, TensorDataset

__all__ = ["Batches", "Noise", "penalty_generator"]

_DATA, _NOISE, _PENALTY = 0, 1, 2  # the streams of a run (stream_seed has room for 4)


def stream_seed(seed: int, stream: int, index: int) -> int:
    """Distinct, reproducible generator seeds for (run seed, stream, index)."""
    return (seed * 1_000_003 + index) * 4 + stream + 12345


def penalty_generator(seeds: int | Sequence[int], index: int) -> torch.Generator:
    """The CPU generator handed to ``penalty_D`` on batch ``index``: seeded from the run's seed (an
    ensemble's seeds folded into one number) and the batch index only. The seed is taken modulo 2**63
    (torch takes a signed 64-bit seed; an ensemble of five or more seeds folds past it), which leaves
    every seed below that unchanged."""
    folded = 0
    for s in [seeds] if isinstance(seeds, int) else seeds:
        folded = (folded * 1_000_003 + s) % 2**61
    return torch.Generator().manual_seed(stream_seed(folded, _PENALTY, index) % 2**63)


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
                torch.randperm(self.n, generator=torch.Generator().manual_seed(stream_seed(s, _DATA, epoch)))
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

    def describe(self) -> dict:
        """What a checkpoint records about the data: its length, one sample's shape and dtype."""
        sample = self.data[0] if isinstance(self.data, torch.Tensor) else torch.as_tensor(self.data[0][0])
        return {"length": self.n, "shape": list(sample.shape), "dtype": str(sample.dtype)}


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
            torch.randn(batch_size, *self.shape,
                        generator=torch.Generator().manual_seed(stream_seed(s, _NOISE, index)))
            for s in self.seeds])
        z = z.to(self.device)
        return z if self.members is not None else z[0]
