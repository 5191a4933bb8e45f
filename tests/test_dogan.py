"""Tests of gancore.dogan: EWC, MixedGenerator, the mixed opponents, the oracles' policy and DO-GAN."""

import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from gancore import data, losses, storage, train
from gancore.dogan import (
    EWC,
    DiscriminatorMixture,
    GeneratorMixture,
    MixedGenerator,
    MixtureLoss,
    Strategy,
    diagonal_fisher,
    dogan,
)
from gancore.models import gan_pair
from gancore.train import OnlyOne


# ----------------------------------------------------------------------------- EWC

def squared_loss(model, batch):
    x, t = batch
    return 0.5 * ((model(x).squeeze(-1) - t) ** 2).sum()


def test_diagonal_fisher_closed_form_for_linear_regression():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, t = torch.randn(5, 3), torch.randn(5)
    batches = [(x[k:k + 1], t[k:k + 1]) for k in range(5)]
    fisher = diagonal_fisher(model, squared_loss, batches)
    # per-sample gradient of 0.5 (w.x + b - t)^2: r x for w, r for b, with residual r
    r = (x @ model.weight.detach().T).squeeze(-1) + model.bias.detach() - t
    torch.testing.assert_close(fisher["weight"], ((r[:, None] * x) ** 2).mean(0, keepdim=True))
    torch.testing.assert_close(fisher["bias"], (r ** 2).mean(0, keepdim=True))
    assert model.weight.grad is None and model.bias.grad is None


def test_diagonal_fisher_needs_batches():
    with pytest.raises(ValueError, match="No batches"):
        diagonal_fisher(nn.Linear(2, 1), squared_loss, [])


def make_ewc(lam=0.7):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    fisher = {name: torch.rand_like(p) for name, p in model.named_parameters()}
    return model, fisher, EWC(model, fisher, lam)


def shift(model, deltas, scale):
    anchor = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p, a, d in zip(model.parameters(), anchor, deltas):
            p.copy_(a + scale * d)
    return anchor


def test_ewc_zero_at_anchor_quadratic_and_closed_form():
    model, fisher, ewc = make_ewc(lam=0.7)
    assert ewc(model).item() == 0.0
    deltas = [torch.randn_like(p) for p in model.parameters()]
    anchor = shift(model, deltas, 1.0)
    once = ewc(model)
    expected = 0.35 * sum((f * d ** 2).sum() for f, d in zip(fisher.values(), deltas))
    torch.testing.assert_close(once, expected)
    with torch.no_grad():
        for p, a, d in zip(model.parameters(), anchor, deltas):
            p.copy_(a + 2.0 * d)
    torch.testing.assert_close(ewc(model), 4.0 * once.detach())


def test_ewc_gradient():
    model, fisher, ewc = make_ewc(lam=2.5)
    anchor = [p.detach().clone() for p in model.parameters()]
    deltas = [torch.randn_like(p) for p in model.parameters()]
    shift(model, deltas, 1.0)
    ewc(model).backward()
    for p, a, f in zip(model.parameters(), anchor, fisher.values()):
        torch.testing.assert_close(p.grad, 2.5 * f * (p.detach() - a))


def test_ewc_state_dict_round_trip():
    model, _, ewc = make_ewc()
    shift(model, [torch.randn_like(p) for p in model.parameters()], 1.0)
    other_model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    other = EWC(other_model, {n: torch.ones_like(p) for n, p in other_model.named_parameters()}, lam=0.7)
    other.load_state_dict(ewc.state_dict())
    torch.testing.assert_close(other(model), ewc(model))
    assert set(ewc.state_dict()) == {f"{kind}_{k}" for kind in ("anchor", "fisher") for k in range(4)}


def test_ewc_validates_arguments():
    model, fisher, _ = make_ewc()
    with pytest.raises(ValueError, match="Invalid EWC strength"):
        EWC(model, fisher, lam=-1.0)
    with pytest.raises(ValueError, match="missing"):
        EWC(model, {"0.weight": fisher["0.weight"]}, lam=1.0)
    with pytest.raises(ValueError, match="differ"):
        EWC(model, fisher, lam=1.0)(nn.Linear(3, 1))


# ----------------------------------------------------------------------------- mixed generator

class Constant(nn.Module):
    """G(z) = c for every latent, counting its calls."""

    def __init__(self, c):
        super().__init__()
        self.c, self.calls = float(c), 0

    def forward(self, z):
        self.calls += 1
        return torch.full((z.shape[0], 2), self.c)


def test_mixed_generator_with_a_pure_strategy_uses_only_it():
    gens = [Constant(0), Constant(1)]
    x = MixedGenerator(gens, [1.0, 0.0]).sample(500, 4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 2)
    assert (x == 0).all()
    assert gens[1].calls == 0


def test_mixed_generator_frequencies_and_one_call_per_generator():
    probs = [0.2, 0.5, 0.3]
    gens = [Constant(i) for i in range(3)]
    x = MixedGenerator(gens, probs).sample(20_000, 4, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(x[:, 0].long(), minlength=3).double() / 20_000
    # standard deviations are at most sqrt(0.25 / 20000) = 0.0035; 0.015 is over 4 of them
    assert_allclose(freq.numpy(), probs, atol=0.015)
    assert [g.calls for g in gens] == [1, 1, 1]


def test_mixed_generator_routes_each_latent_and_is_deterministic():
    torch.manual_seed(0)
    gens = [nn.Linear(4, 3), nn.Linear(4, 3)]
    mixed = MixedGenerator(gens, torch.tensor([0.4, 0.6]))
    x, index = mixed.sample(64, 4, generator=torch.Generator().manual_seed(5), return_index=True)
    g = torch.Generator().manual_seed(5)
    index_again = torch.multinomial(mixed.probs, 64, replacement=True, generator=g)
    z = torch.randn(64, 4, generator=g)
    assert_array_equal(index.numpy(), index_again.numpy())
    expected = torch.stack([gens[int(i)](z[k]) for k, i in enumerate(index)])
    torch.testing.assert_close(x, expected)
    torch.testing.assert_close(mixed.sample(64, 4, generator=torch.Generator().manual_seed(5)), x)
    assert not torch.equal(mixed.sample(64, 4, generator=torch.Generator().manual_seed(6)), x)


def test_mixed_generator_latent_shape():
    gen = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))
    x = MixedGenerator([gen], [1.0]).sample(3, (6, 1, 1), generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 2)


@pytest.mark.parametrize("probs, match", [
    ([0.5, 0.6], "probability vector"),
    ([1.5, -0.5], "probability vector"),
    ([1.0], r"shape \(2,\)"),
])
def test_mixed_generator_validates_probs(probs, match):
    with pytest.raises(ValueError, match=match):
        MixedGenerator([Constant(0), Constant(1)], probs)


# ----------------------------------------------------------------------------- mixtures and oracles

def test_mixture_loss_is_the_expected_loss():
    torch.manual_seed(0)
    loss = losses.gan_loss("ns")
    Ds = [nn.Linear(2, 1) for _ in range(3)]
    w = [0.2, 0.0, 0.8]
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    mix = MixtureLoss(loss, w)
    D_mix = DiscriminatorMixture(Ds)
    expected_d = sum(wk * loss.d(D(real), D(fake)) for wk, D in zip(w, Ds))
    expected_g = sum(wk * loss.g(D(fake)) for wk, D in zip(w, Ds))
    torch.testing.assert_close(mix.d(D_mix(real), D_mix(fake)), expected_d)
    torch.testing.assert_close(mix.g(D_mix(fake)), expected_g)
    # a discriminator facing a generator mixture: K * B samples, member-major
    Gs = [nn.Linear(3, 2) for _ in range(3)]
    D, z = Ds[0], torch.randn(16, 3)
    out = D(GeneratorMixture(Gs)(z))
    torch.testing.assert_close(mix.d(D(real), out), sum(wk * loss.d(D(real), D(G(z))) for wk, G in zip(w, Gs)))
    with pytest.raises(ValueError, match="probability vector"):
        MixtureLoss(loss, [0.5, 0.6])


def test_frozen_mixtures_stay_in_eval_mode():
    D_mix = DiscriminatorMixture([nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))])
    D_mix.train()
    assert D_mix.training and not any(m.training for m in D_mix.nets.modules())


@pytest.mark.parametrize("player", ["G", "D"])
def test_only_one_player_moves(player):
    torch.manual_seed(0)
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    before = {"G": [p.detach().clone() for p in G.parameters()], "D": [p.detach().clone() for p in D.parameters()]}
    result = train.fit(G, D, torch.randn(64, 2), loss=losses.gan_loss("ns"),
                       opt_G=torch.optim.Adam(G.parameters(), 1e-2), opt_D=torch.optim.Adam(D.parameters(), 1e-2),
                       steps=3, batch_size=16, latent_dim=2, policy=OnlyOne(player), device="cpu", progress=False)
    other = "D" if player == "G" else "G"
    net = {"G": G, "D": D}
    for p, b in zip(net[other].parameters(), before[other]):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=0)
    assert any(not torch.equal(p.detach(), b) for p, b in zip(net[player].parameters(), before[player]))
    assert int(result.updates[player]) == 3 and int(result.updates[other]) == 0


# ----------------------------------------------------------------------------- DO-GAN

TINY = dict(loss=losses.gan_loss("ns"), iterations=3, oracle_steps=4, init_steps=4, batch_size=16,
            lr_G=1e-3, lr_D=1e-3, n_payoff=64, fisher_batches=2, device="cpu")


def tiny_ring():
    return torch.utils.data.TensorDataset(data.as_tensor(data.load("ring"))[:256])


def test_dogan_on_the_ring_history_memory_and_exploitability(tmp_path):
    make_G, make_D = gan_pair("vanilla", (2,), latent_dim=2, width=8)
    seen = []
    result = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=2, ewc_lambda=1.0, eps=1e-6,
                   evaluate=lambda t, r: seen.append(t) or {"n_gen": len(r.generators)}, **TINY)
    # the final meta game is solved: its exploitability is <= eps
    assert result.exploitability() <= 1e-6
    h = result.history
    assert len(h) == (4 if not result.converged else len(h)) and seen == list(h.iteration)
    for col in ["U", "sigma_row", "sigma_col", "value", "row_gain", "col_gain", "oracle_s", "payoff_s",
                "solve_s", "prune_s", "n_gen"]:
        assert h[col].notna().iloc[1:].all(), col
    assert (h.rows <= 2).all() and (h.cols <= 2).all()
    assert result.training_steps == 4 + 2 * 4 * (len(h) - 1)
    # memory bound: every stored strategy is a state dict of CPU tensors, not a live network
    for s in result.generators + result.discriminators:
        assert isinstance(s, Strategy) and isinstance(s.state, dict)
        assert all(v.device.type == "cpu" for v in s.state.values())
    # the meta payoffs are the discriminators' losses, recomputed here from the stored networks
    real = train.Batches(tiny_ring(), 64, 7)(0)
    z = train.Noise((2,), 7)(0, 64)
    loss = TINY["loss"]
    with torch.no_grad():
        U = [[float(loss.d(D.build(make_D)(real), D.build(make_D)(G.build(make_G)(z))))
              for D in result.discriminators] for G in result.generators]
    assert_allclose(result.U, U, rtol=1e-5)
    x = result.mixed_generator().sample(32, 2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (32, 2)


def test_dogan_strategies_on_disk_are_the_same_run(tmp_path):
    make_G, make_D = gan_pair("vanilla", (2,), latent_dim=2, width=8)
    in_memory = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=3, **TINY)
    on_disk = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=3, store_dir=tmp_path, **TINY)
    # a run started from another run's initial strategies is that run
    restarted = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=3, initial=in_memory.initial, **TINY)
    assert_allclose(restarted.U, in_memory.U)
    assert restarted.training_steps == in_memory.training_steps
    assert all(isinstance(s.state, type(tmp_path)) for s in on_disk.generators + on_disk.discriminators)
    assert_allclose(on_disk.U, in_memory.U)
    for a, b in zip(in_memory.generators, on_disk.generators):
        for k, v in a.load().items():
            torch.testing.assert_close(b.load()[k], v)


def test_dogan_strategy_files_are_checksummed(tmp_path):
    make_G, make_D = gan_pair("vanilla", (2,), latent_dim=2, width=8)
    result = dogan(make_G, make_D, tiny_ring(), latent_dim=2, store_dir=tmp_path, **dict(TINY, iterations=1))
    G0 = result.initial[0]
    # written by gancore.storage: readable by load_torch, equal to the network it holds
    for k, v in storage.load_torch(G0.state).items():
        torch.testing.assert_close(G0.load()[k], v)
    G0.state.write_bytes(G0.state.read_bytes()[:-10])  # a truncated strategy file is refused, by name
    with pytest.raises(storage.CorruptFileError, match="G0.pt"):
        G0.load()


def test_dogan_paper_code_path_on_tiny_images():
    # the paper profile's path (an SNGAN on images, EWC on) at toy size
    images = torch.utils.data.TensorDataset(data.as_tensor(data.load("digits"))[:64])
    make_G, make_D = gan_pair("sngan", (1, 8, 8), latent_dim=4, width=4)
    result = dogan(make_G, make_D, images, latent_dim=4, cap=2, ewc_lambda=5.0,
                   **dict(TINY, iterations=1))
    assert result.U.shape == (len(result.generators), len(result.discriminators))
    assert result.mixed_generator().sample(6, 4).shape == (6, 1, 8, 8)


def test_dogan_result_sample_is_the_seeded_mixture_sample():
    # the result knows its latent shape; sample(n, seed) is the mixture's sample from a CPU generator
    # seeded with seed: the same samples for the same seed, as an evaluation along DO iterations needs
    images = torch.utils.data.TensorDataset(data.as_tensor(data.load("digits"))[:64])
    make_G, make_D = gan_pair("dcgan", (1, 8, 8), latent_dim=4, width=4)
    result = dogan(make_G, make_D, images, latent_dim=4, cap=2, **dict(TINY, iterations=2))
    assert result.latent == (4,)
    x, index = result.sample(40, seed=3, return_index=True)
    with torch.no_grad():
        expected, expected_index = result.mixed_generator().sample(40, 4, torch.Generator().manual_seed(3),
                                                                   return_index=True)
    torch.testing.assert_close(x, expected, rtol=0, atol=0)
    assert_array_equal(index.numpy(), expected_index.numpy())
    assert x.shape == (40, 1, 8, 8) and x.device.type == "cpu" and not x.requires_grad
    torch.testing.assert_close(result.sample(40, seed=3), x, rtol=0, atol=0)
    assert not torch.equal(result.sample(40, seed=4), x)


def test_strategy_of_copies_the_network_to_the_cpu():
    net = torch.nn.Linear(3, 2)
    kept = Strategy.of(net, 2, "G2")
    with torch.no_grad():
        net.weight.add_(1.0)
    assert (kept.born, kept.name) == (2, "G2")
    assert torch.equal(kept.state["weight"] + 1.0, net.weight) and kept.state["weight"].device.type == "cpu"
    assert torch.equal(kept.build(lambda: torch.nn.Linear(3, 2)).bias, net.bias)
