"""Networks: shapes for every image size, spectral norm, initialisation, the base GAN pairs, errors."""

import pytest
import torch
from torch import nn

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


@pytest.mark.parametrize("name", models.BASE_GANS)
def test_base_gans_on_images(name):
    torch.manual_seed(0)
    make_G, make_D = models.gan_pair(name, (1, 8, 8), latent_dim=4, width=4)
    G, D = make_G(), make_D()
    x = G(torch.randn(5, 4))
    assert x.shape == (5, 1, 8, 8)
    assert D(x).shape == ((10, 1) if name == "stacked" else (5, 1))


def test_gan_pair_builds_the_named_networks():
    make_G, make_D = models.gan_pair("sngan", (3, 32, 32), latent_dim=8, width=4)
    assert isinstance(make_G(), models.DCGANGenerator)
    assert any(hasattr(m, "parametrizations") for m in make_D().modules())  # spectral norm
    assert not any(hasattr(m, "parametrizations") for m in models.gan_pair("dcgan", (3, 32, 32), 8, 4)[1]().modules())
    make_G, make_D = models.gan_pair("vanilla", (2,), latent_dim=3, width=5, depth=1)
    assert make_G()(torch.randn(4, 3)).shape == (4, 2) and make_D()(torch.randn(4, 2)).shape == (4, 1)
    assert make_G() is not make_G()  # factories: a fresh network per call


def test_stacked_discriminator_logits_are_sample_major():
    torch.manual_seed(0)
    _, make_D = models.gan_pair("stacked", (1, 8, 8), latent_dim=4, width=4)
    D = make_D().eval()
    x = torch.randn(6, 1, 8, 8)
    both = D(x)
    torch.testing.assert_close(both[0::2], D.fine(x))
    torch.testing.assert_close(both[1::2], D.coarse(nn.functional.avg_pool2d(x, 2).flatten(1)))


def test_gan_pair_validates():
    with pytest.raises(ValueError, match="vanilla, dcgan"):
        models.gan_pair("wgan", (2,), 2, 8)
    with pytest.raises(ValueError, match="square images"):
        models.gan_pair("dcgan", (2,), 2, 8)
