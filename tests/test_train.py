"""The training loop: update order, determinism, resume, divergence, masks, errors."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gancore import losses, models, train

RING_LIKE = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))


def _pair(seed=0, width=8):
    torch.manual_seed(seed)
    return models.mlp_generator(2, 2, width=width, depth=1), models.mlp_discriminator(2, width=width, depth=1)


def _fit(G, D, steps, **kw):
    opts = dict(opt_G=torch.optim.Adam(G.parameters(), 1e-2), opt_D=torch.optim.Adam(D.parameters(), 1e-2))
    opts.update(kw.pop("opts", {}))
    return train.fit(G, D, RING_LIKE, loss=losses.gan_loss("ns"), steps=steps, batch_size=32, latent_dim=2,
                     device="cpu", progress=False, **opts, **kw)


def _state(*modules):
    return [t.detach().clone() for m in modules for t in m.state_dict().values()]


def test_batches_are_a_function_of_seed_and_index():
    b1, b2 = train.Batches(RING_LIKE, 32, seeds=3), train.Batches(RING_LIKE, 32, seeds=3)
    torch.testing.assert_close(b1(17), b2(17))
    assert not torch.equal(b1(0), train.Batches(RING_LIKE, 32, seeds=4)(0))
    # one epoch visits every sample exactly once (512 / 32 = 16 batches)
    epoch = torch.cat([b1(i) for i in range(16)])
    assert torch.equal(epoch.sort(0).values, RING_LIKE.sort(0).values)


def test_member_batches_equal_single_seed_batches():
    multi = train.Batches(RING_LIKE, 32, seeds=[5, 9])
    torch.testing.assert_close(multi(20)[1], train.Batches(RING_LIKE, 32, seeds=9)(20))
    noise = train.Noise((2,), [5, 9])
    torch.testing.assert_close(noise(7, 4)[0], train.Noise((2,), 5)(7, 4))


def test_same_seed_same_run():
    G1, D1 = _pair()
    G2, D2 = _pair()
    _fit(G1, D1, 5), _fit(G2, D2, 5)
    for a, b in zip(_state(G1, D1), _state(G2, D2)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("policy", ["simultaneous", "alternating"])
def test_resume_equals_uninterrupted(tmp_path, policy):
    G, D = _pair()
    _fit(G, D, 12, policy=policy)
    straight = _state(G, D)

    class Interrupt(Exception):
        pass

    def stop_at_8(step, G, D):
        if step == 8:
            raise Interrupt
        return {}

    G, D = _pair()
    with pytest.raises(Interrupt):
        _fit(G, D, 12, policy=policy, checkpoint=tmp_path / "run.pt", checkpoint_every=4, evaluate=stop_at_8,
             eval_every=8)
    assert train.load_checkpoint(tmp_path / "run.pt")["step"] == 8
    G, D = _pair(seed=99)  # fresh, differently initialised objects: everything must come from the checkpoint
    result = _fit(G, D, 12, policy=policy, checkpoint=tmp_path / "run.pt", checkpoint_every=4)
    for a, b in zip(straight, _state(G, D)):
        assert torch.equal(a, b)
    assert result.steps == 12 and list(result.log.step) == list(range(1, 13))


def test_resume_refuses_other_parameters(tmp_path):
    G, D = _pair()
    _fit(G, D, 4, checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    G, D = _pair()
    with pytest.raises(ValueError, match="other parameters"):
        _fit(G, D, 8, checkpoint=tmp_path / "c.pt", checkpoint_every=2, d_steps=2)


def test_divergence_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    G, D = _pair()
    ns = losses.gan_loss("ns")
    calls = {"n": 0}

    def g_loss(fake_logits):
        calls["n"] += 1
        value = ns.g(fake_logits)
        return value * float("nan") if calls["n"] > 6 else value

    bad = SimpleNamespace(name="bad", d=ns.d, g=g_loss)
    with pytest.raises(train.TrainingDiverged, match="step 6") as err:
        train.fit(G, D, RING_LIKE, loss=bad, opt_G=torch.optim.SGD(G.parameters(), 0.1),
                  opt_D=torch.optim.SGD(D.parameters(), 0.1), steps=20, batch_size=32, latent_dim=2, device="cpu",
                  checkpoint=tmp_path / "c.pt", checkpoint_every=4)
    assert err.value.step == 6
    state = train.load_checkpoint(err.value.checkpoint)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["G"].values())


def _linear_game():
    """G(z) = a (a scalar output, no dependence on z), D(x) = w x: the Wasserstein game in 1-D."""
    G = nn.Linear(1, 1)
    D = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        G.weight.zero_(), G.bias.fill_(1.0), D.weight.fill_(0.5)
    G.weight.requires_grad_(False)
    return G, D


@pytest.mark.parametrize("policy", ["simultaneous", "alternating"])
def test_update_order(policy):
    # data all zeros; D minimises mean D(fake) - mean D(real) = w a; G minimises -mean D(fake) = -w a
    G, D = _linear_game()
    lr = 0.1
    train.fit(G, D, torch.zeros(8, 1), loss=losses.gan_loss("wasserstein"), opt_G=torch.optim.SGD(G.parameters(), lr),
              opt_D=torch.optim.SGD(D.parameters(), lr), steps=1, batch_size=4, latent_dim=1, policy=policy,
              device="cpu")
    a, w = 1.0, 0.5
    w_new = w - lr * a  # dD/dw = a
    a_new = a + lr * (w if policy == "simultaneous" else w_new)  # dG/da = -w, at the old or the new D
    assert D.weight.item() == pytest.approx(w_new)
    assert G.bias.item() == pytest.approx(a_new)


class FreezeD:
    name, simultaneous = "freeze-D", True

    def decide(self, step, d_loss, g_loss):
        return False, True

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_policy_can_freeze_a_player():
    G, D = _pair()
    before = _state(D)
    result = _fit(G, D, 3, policy=FreezeD())
    assert all(torch.equal(a, b) for a, b in zip(before, _state(D)))
    assert int(result.updates["D"]) == 0 and int(result.updates["G"]) == 3


def test_masked_step_freezes_members_only():
    p = nn.Parameter(torch.ones(3, 2))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3, 2)
    train._masked_step(opt, torch.tensor([True, False, True]))
    assert torch.equal(p.data[1], torch.ones(2))
    assert (p.data[[0, 2]] < 1).all()
    assert torch.equal(opt.state[p]["exp_avg"][1], torch.zeros(2))


def test_errors_are_clear():
    G, D = _pair()
    with pytest.raises(ValueError, match="Unknown policy"):
        _fit(G, D, 1, policy="cooperate-maybe")
    with pytest.raises(ValueError, match="Invalid batch size"):
        train.Batches(RING_LIKE, 10_000, seeds=0)
    with pytest.raises(ValueError, match="average_G"):
        _fit(G, D, 1, average_G="median")


def test_uniform_average_is_the_mean_of_iterates():
    G, D = _pair()
    iterates = []

    def keep(step, G, D):
        iterates.append(_state(G))
        return {}

    result = _fit(G, D, 4, average_G="uniform", evaluate=keep, eval_every=1)
    mean = [torch.stack(ts).mean(0) for ts in zip(*iterates[1:])]  # steps 1..4 (row 0 is the start)
    for m, a in zip(mean, _state(result.G_avg.module)):
        torch.testing.assert_close(m, a)


def test_device_auto_and_errors():
    assert train.resolve_device("cpu").type == "cpu"
    assert train.resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU"):
            train.resolve_device("cuda")
