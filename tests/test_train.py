"""The training loop: update order, determinism, resume, divergence, masks, errors."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from gancore import checkpoint, losses, models, storage, train

RING_LIKE = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))


def _pair(seed=0, width=8):
    torch.manual_seed(seed)
    return models.mlp_generator(2, 2, width=width, depth=1), models.mlp_discriminator(2, width=width, depth=1)


def _fit(G, D, steps, **kw):
    opts = dict(opt_G=torch.optim.Adam(G.parameters(), 1e-2), opt_D=torch.optim.Adam(D.parameters(), 1e-2))
    opts.update(kw.pop("opts", {}))
    data, loss = kw.pop("data", RING_LIKE), kw.pop("loss", losses.gan_loss("ns"))
    return train.fit(G, D, data, loss=loss, steps=steps, batch_size=32, latent_dim=2,
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


def _wgan_gp(D, real, fake, generator):
    """A tiny WGAN-GP penalty that draws its interpolation weights from the loop's generator."""
    e = torch.rand(real.shape[0], 1, generator=generator)
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return 10.0 * (grad.norm(dim=1) - 1).square().mean()


def _library_gp(D, real, fake, generator):
    return losses.gradient_penalty(D, real, fake, generator=generator)


@pytest.mark.parametrize("loss, policy, d_steps, penalty", [
    (losses.gan_loss("ns"), "simultaneous", 1, None),  # log loss
    (losses.gan_loss("alpha", alpha_d=0.5, alpha_g=1.2), "alternating", 1, None),
    (losses.gan_loss("wasserstein"), "alternating", 3, _wgan_gp),  # WGAN-GP, n_critic = 3
    (losses.gan_loss("wasserstein"), "simultaneous", 1, _library_gp),
], ids=["log", "alpha", "wgan-gp", "wgan-gp-library"])
def test_resume_is_bit_for_bit_for_every_loss(tmp_path, loss, policy, d_steps, penalty):
    def run(steps, path=None):
        G, D = _pair()
        result = _fit(G, D, steps, loss=loss, policy=policy, d_steps=d_steps, penalty_D=penalty,
                      checkpoint=path, checkpoint_every=3 if path else 0)
        return _state(G, D), result

    straight, full = run(10)
    run(5, tmp_path / "c.pt")  # interrupted: checkpoints at steps 3 and 5
    resumed, result = run(10, tmp_path / "c.pt")
    for a, b in zip(straight, resumed, strict=True):
        assert torch.equal(a, b)
    pd_equal = full.log.drop(columns="seconds").equals(result.log.drop(columns="seconds"))
    assert pd_equal and result.grad_evals == full.grad_evals


def test_penalty_generator_is_a_function_of_seed_and_batch():
    def draw(seeds, index):
        return torch.rand(4, generator=train.penalty_generator(seeds, index))

    assert torch.equal(draw(3, 7), draw(3, 7))
    assert not torch.equal(draw(3, 7), draw(3, 8)) and not torch.equal(draw(3, 7), draw(4, 7))
    assert not torch.equal(draw([3, 4], 7), draw([4, 3], 7))
    seen = []
    G, D = _pair()
    _fit(G, D, 3, d_steps=2, penalty_D=lambda D, real, fake, g: seen.append(g.initial_seed()) or real.sum() * 0)
    assert seen == [train.penalty_generator(0, i).initial_seed() for i in range(6)]  # one batch index each
    # an ensemble of many seeds folds past torch's signed 64-bit seed: still a valid, distinct stream
    many = [draw(list(range(k)), 7) for k in range(1, 10)]
    assert all(not torch.equal(a, b) for i, a in enumerate(many) for b in many[i + 1:])


def test_resume_names_each_difference(tmp_path):
    path = tmp_path / "c.pt"
    G, D = _pair()
    _fit(G, D, 2, loss=losses.gan_loss("alpha", alpha_d=0.5), checkpoint=path, checkpoint_every=2)
    G, D = _pair()
    with pytest.raises(ValueError, match="other parameters") as err:
        _fit(G, D, 4, loss=losses.gan_loss("alpha", alpha_d=3.0), opts={"opt_D": torch.optim.SGD(D.parameters(), 0.01)},
             data=RING_LIKE[:256], checkpoint=path, checkpoint_every=2)
    message = str(err.value)
    assert str(path) in message
    assert "loss_options.alpha_d: 0.5 in the checkpoint vs 3.0 now" in message
    assert "opt_D.class: 'Adam' in the checkpoint vs 'SGD' now" in message
    assert "data.length: 512 in the checkpoint vs 256 now" in message
    assert "alpha_g" not in message  # only what differs


def test_resume_with_new_lr_takes_the_learning_rate_passed_in(tmp_path):
    path = tmp_path / "c.pt"
    G, D = _pair()
    _fit(G, D, 4, checkpoint=path, checkpoint_every=4)
    at_4 = _state(G, D)
    G, D = _pair()
    small = {"opt_G": torch.optim.Adam(G.parameters(), 1e-5), "opt_D": torch.optim.Adam(D.parameters(), 1e-5)}
    with pytest.raises(ValueError, match=r"opt_G\.param_groups\[0\]\.lr: 0\.01 in the checkpoint vs 1e-05 now.*resume='new_lr'"):
        _fit(G, D, 8, opts=small, checkpoint=path, checkpoint_every=4)
    result = _fit(G, D, 8, opts=small, checkpoint=path, checkpoint_every=4, resume="new_lr")
    assert list(result.log.step) == list(range(1, 9))
    assert [g["lr"] for opt in small.values() for g in opt.param_groups] == [1e-5, 1e-5]
    moved = max((a - b).abs().max().item() for a, b in zip(at_4, _state(G, D)))
    assert 0 < moved < 1e-3  # four Adam steps of size ~1e-5, not ~1e-2
    assert train.load_checkpoint(path)["config"]["opt_G"]["param_groups"][0]["lr"] == 1e-5
    with pytest.raises(ValueError, match="Invalid resume"):
        _fit(G, D, 8, resume="yes")


def _nan_after(calls_ok):
    ns, calls = losses.gan_loss("ns"), {"n": 0}

    def g_loss(fake_logits):
        calls["n"] += 1
        value = ns.g(fake_logits)
        return value * float("nan") if calls["n"] > calls_ok else value

    return SimpleNamespace(name="bad", d=ns.d, g=g_loss)


def test_divergence_never_names_an_earlier_runs_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    G, D = _pair()
    _fit(G, D, 4, checkpoint=path, checkpoint_every=2)  # an earlier run's good checkpoint
    earlier = path.read_bytes()
    G, D = _pair()
    with pytest.raises(train.TrainingDiverged, match="step 2") as err:
        _fit(G, D, 8, loss=_nan_after(2), checkpoint=path, checkpoint_every=4, resume=False)
    assert err.value.checkpoint is None and str(path) not in str(err.value)
    assert path.read_bytes() == earlier  # untouched: this run had not reached its first checkpoint
    G, D = _pair()
    _fit(G, D, 2, loss=losses.gan_loss("hinge"), checkpoint=path, checkpoint_every=2, resume=False)
    assert train.load_checkpoint(path)["config"]["loss"] == "hinge"  # resume=False overwrites it


def test_divergence_message_says_how_to_resume_with_a_smaller_lr(tmp_path):
    G, D = _pair()
    with pytest.raises(train.TrainingDiverged) as err:
        _fit(G, D, 8, loss=_nan_after(5), checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    assert err.value.step == 5 and err.value.checkpoint == tmp_path / "c.pt"
    assert "(step 4)" in str(err.value) and "resume='new_lr'" in str(err.value)


def test_nonfinite_parameters_never_reach_a_checkpoint(tmp_path):
    """A finite loss whose gradient is NaN (sqrt at 0, times 0) poisons the parameters at step 4:
    the checkpoint due at step 4 is refused and the one of step 3 stays on disk."""
    calls = {"n": 0}

    def penalty_G(G):
        calls["n"] += 1
        u = next(G.parameters()).sum() * 0
        return torch.sqrt(u) if calls["n"] > 3 else u

    G, D = _pair()
    path = tmp_path / "c.pt"
    with pytest.raises(train.TrainingDiverged, match="a parameter or buffer of G") as err:
        _fit(G, D, 8, penalty_G=penalty_G, checkpoint=path, checkpoint_every=1)
    assert err.value.step == 4 and err.value.checkpoint == path
    state = train.load_checkpoint(path)
    assert state["step"] == 3
    assert all(torch.isfinite(v).all() for v in [*state["G"].values(), *state["D"].values()])


def test_first_nonfinite_checks_optimizer_state():
    G, D = _pair()
    opt = torch.optim.Adam(D.parameters(), 0.1)
    for p in D.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    assert checkpoint.first_nonfinite({"G": G, "D": D}, {"opt_D": opt}) is None
    next(iter(opt.state.values()))["exp_avg"].view(-1)[0] = float("inf")
    assert checkpoint.first_nonfinite({"G": G, "D": D}, {"opt_D": opt}) == "the state of opt_D"


def test_numpy_evaluations_are_checkpointed_and_resumed(tmp_path):
    def evaluate(step, G, D):
        return {"mean": np.float64(next(G.parameters()).sum().item()), "hist": np.arange(3) * step}

    def run(steps, path=None):
        G, D = _pair()
        return _fit(G, D, steps, evaluate=evaluate, eval_every=2, checkpoint=path, checkpoint_every=2 if path else 0)

    straight = run(6).evals
    run(4, tmp_path / "c.pt")
    resumed = run(6, tmp_path / "c.pt").evals
    assert list(resumed["mean"]) == list(straight["mean"]) and list(resumed.step) == [0, 2, 4, 6]
    G, D = _pair()
    with pytest.raises(TypeError, match=r"evaluate\(\)'s rows\[0\]\['bad'\] is a set"):
        _fit(G, D, 2, evaluate=lambda s, G, D: {"bad": {1}}, eval_every=1, checkpoint=tmp_path / "d.pt",
             checkpoint_every=2)


def test_policies_are_objects_and_names_are_the_two_plain_ones():
    assert set(train.POLICIES) == {"simultaneous", "alternating"}
    G, D = _pair()
    with pytest.raises(ValueError, match="gancore.repeated.cooperative"):
        _fit(G, D, 1, policy="cooperative")
    result = _fit(G, D, 2, policy=train.OnlyOne("G"))
    assert int(result.updates["D"]) == 0 and int(result.updates["G"]) == 2


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "c.pt"
    path.write_bytes(b"not a checkpoint")
    G, D = _pair()
    with pytest.raises(storage.CorruptFileError, match="resume=False") as err:
        _fit(G, D, 2, checkpoint=path, checkpoint_every=2)
    assert err.value.path == path
