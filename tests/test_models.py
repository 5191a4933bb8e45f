"""Networks: shapes for every image size, spectral norm, initialisation, errors."""

import pytest
import torch

from gancore import models


@pytest.mark.parametrize("size, channels", [(8, 1), (25, 1), (28, 1), (32, 3), (64, 3)])
def test_dcgan_pair_shapes(size, channels):
    G = models.dcgan_generator(size, channels, latent_dim=16, width=8)
    D = models.dcgan_discriminator(size, channels, width=8)
    x = G(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert x.abs().max() <= 1
    assert D(x).shape == (3, 1)
    S = models.StackedGenerator(size, channels, latent_dim=16, width=8)
    coarse, fine = S.stages(torch.randn(3, 16))
    assert fine.shape == (3, channels, size, size) and coarse.shape[-1] == models.IMAGE_PLANS[size][-2]


def test_spectral_norm_bounds_each_layer():
    D = models.dcgan_discriminator(8, 1, width=8, spectral_norm=True)
    D(torch.randn(4, 1, 8, 8))  # power iterations run in training mode
    convs = [m for m in D.modules() if hasattr(m, "parametrizations")]
    assert convs and not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    mlp = models.mlp_discriminator(2, width=16, depth=2, spectral_norm=True)
    for _ in range(50):
        mlp(torch.randn(8, 2))
    for layer in [m for m in mlp if isinstance(m, torch.nn.Linear)]:
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_mlp_sizes_and_dcgan_init():
    G = models.mlp_generator(2, 2, width=400, depth=4)
    assert models.count_parameters(G) == 2 * 400 + 400 + 3 * (400 * 400 + 400) + 400 * 2 + 2
    D = models.dcgan_discriminator(28, 1, width=64)
    w = D.body[0].weight
    assert w.std().item() == pytest.approx(0.02, rel=0.1) and w.mean().abs() < 0.005


def test_errors():
    with pytest.raises(ValueError, match="Known sizes"):
        models.dcgan_generator(48)
    with pytest.raises(ValueError, match="Unknown activation"):
        models.mlp_generator(activation="swish")
    with pytest.raises(ValueError, match="Invalid MLP shape"):
        models.mlp_discriminator(depth=0)
