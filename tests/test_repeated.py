"""The cooperative repeated-game policy: scripted decisions, real freezing, ensembles, resume."""

import numpy as np
import pytest
import torch

from gancore import ensemble, experiments, losses, metrics, models, repeated, train
from gancore.metrics import first_reaching
from gancore.repeated import CASES, Cooperative

DATA = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))


def _t(x):
    return torch.tensor(x, dtype=torch.float32)


def _play(policy, losses_dg):
    return [policy.decide(i, _t(d), _t(g)) for i, (d, g) in enumerate(losses_dg)]


# Losses: lower is better, so performance = -loss. Batch 0 is the reference.
@pytest.mark.parametrize("second, case, expected", [
    ((1.1, 0.9), "D weaker", (True, False)),     # D's loss rose, G's fell
    ((0.9, 1.1), "G weaker", (False, True)),     # G's loss rose, D's fell
    ((0.9, 0.9), "both better", (False, False)),  # default: a stronger module never steps
    ((1.1, 1.1), "both worse", (True, True)),     # default: each weaker module steps
    ((1.0, 1.0), "both better", (False, False)),  # unchanged counts as stronger (the abstract's rule)
    ((1.0, 1.2), "G weaker", (False, True)),      # D unchanged = stronger
])
def test_default_rule_on_scripted_losses(second, case, expected):
    policy = Cooperative()
    decisions = _play(policy, [(1.0, 1.0), second])
    assert decisions == [(True, True), expected]
    assert list(policy.history().case) == ["first", case]


@pytest.mark.parametrize("rule, better, worse", [
    ("both", (True, True), (True, True)),
    ("none", (False, False), (False, False)),
    # lagging: relative changes D +10% / G +30% (better) and D -10% / G -30% (worse) of performance
    ("lagging", (True, False), (False, True)),
])
def test_tie_rules(rule, better, worse):
    policy = Cooperative(both_better=rule, both_worse=rule)
    # performance = -loss: D 1.0 -> 0.9 is +10%, G 1.0 -> 0.7 is +30%
    assert _play(policy, [(1.0, 1.0), (0.9, 0.7)])[1] == better
    policy = Cooperative(both_better=rule, both_worse=rule)
    assert _play(policy, [(1.0, 1.0), (1.1, 1.3)])[1] == worse


def test_lagging_with_equal_changes_steps_both():
    policy = Cooperative(both_better="lagging")
    assert _play(policy, [(2.0, 1.0), (1.0, 0.5)])[1] == (True, True)  # both +50%


def test_ema_measure_compares_loss_with_running_mean():
    policy = Cooperative(measure="ema", beta=0.5)
    # m: D 1.0 -> 0.5*1 + 0.5*1.2 = 1.1 (worse), G 1.0 -> 0.9 (better); then D 1.1 -> 1.05 (better)
    decisions = _play(policy, [(1.0, 1.0), (1.2, 0.8), (1.0, 1.2)])
    assert decisions[1:] == [(True, False), (False, True)]
    np.testing.assert_allclose(policy._ema, [1.05, 1.05])


def test_accuracy_measure_reads_the_watched_logits():
    policy = Cooperative(measure="accuracy")
    loss = policy.watch(losses.gan_loss("ns"))
    real = _t([[2.0], [1.0], [-1.0], [3.0]])  # D right on 3 of 4 real
    fake = _t([[-2.0], [-1.0], [1.0], [-3.0]])  # G fools D on 1 of 4
    d, g = loss.d(real, fake), loss.g(fake)
    assert policy.decide(0, d, g) == (True, True)
    np.testing.assert_allclose(policy._previous, [(0.75 + 0.75) / 2, 0.25])
    # next batch: D right on all, G fools none -> D stronger, G weaker
    d, g = loss.d(real.abs(), -fake.abs()), loss.g(-fake.abs())
    assert policy.decide(1, d, g) == (False, True)
    with pytest.raises(RuntimeError, match="policy.watch"):
        policy.decide(2, d, g)  # the logits were consumed: no stale reuse


def test_vector_losses_give_per_member_decisions():
    policy = Cooperative()
    policy.decide(0, _t([1.0, 1.0, 1.0, 1.0]), _t([1.0, 1.0, 1.0, 1.0]))
    up_d, up_g = policy.decide(1, _t([1.1, 0.9, 0.9, 1.1]), _t([0.9, 1.1, 0.9, 1.1]))
    assert up_d.tolist() == [True, False, False, True]
    assert up_g.tolist() == [False, True, False, True]
    h = policy.history()
    assert list(h[h.step == 1].case) == ["D weaker", "G weaker", "both better", "both worse"]
    assert set(policy.summary().index) == set(CASES) | {"D stepped", "G stepped"}


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="Invalid measure"):
        Cooperative(measure="fid")
    with pytest.raises(ValueError, match="Invalid both_worse"):
        Cooperative(both_worse="d")
    with pytest.raises(ValueError, match="beta"):
        Cooperative(measure="ema", beta=1.0)


class _Frozen(Cooperative):
    """Records the parameters before and after every batch on which the policy froze a module."""

    def __init__(self, G, D, **kw):
        super().__init__(**kw)
        self.G, self.D, self.frozen = G, D, []

    def decide(self, step, d_loss, g_loss):
        up_d, up_g = super().decide(step, d_loss, g_loss)
        before = ([p.detach().clone() for p in self.D.parameters()], [p.detach().clone() for p in self.G.parameters()])
        self.frozen.append((up_d, up_g, before))
        return up_d, up_g


def _check_frozen(policy, after_each):
    seen = 0
    for (up_d, up_g, (d_before, g_before)), (d_after, g_after) in zip(policy.frozen, after_each):
        for up, before, after in ((up_d, d_before, d_after), (up_g, g_before, g_after)):
            up = torch.as_tensor(up)
            for b, a in zip(before, after):
                keep = ~up.view(-1, *[1] * (b.dim() - 1)) if up.dim() else ~up
                changed = (a != b).flatten(1).any(1) if up.dim() else (a != b).any()
                assert not bool((keep.flatten() & changed).any()), "a frozen module moved"
                seen += int((~up).sum())
    assert seen > 0, "the policy never froze anything: the test checked nothing"


def _spy_after_steps(monkeypatch, opt_G, G, D):
    """Snapshot (D, G) parameters after every batch's masked steps (G's optimizer steps last)."""
    after, orig = [], train._masked_step

    def spy(opt, update):
        orig(opt, update)
        if opt is opt_G:
            after.append(([p.detach().clone() for p in D.parameters()], [p.detach().clone() for p in G.parameters()]))

    monkeypatch.setattr(train, "_masked_step", spy)
    return after


def test_frozen_module_keeps_its_parameters_single_model(monkeypatch):
    torch.manual_seed(0)
    G, D = models.mlp_generator(2, 2, width=8, depth=1), models.mlp_discriminator(2, width=8, depth=1)
    opt_G, opt_D = torch.optim.Adam(G.parameters(), 1e-2), torch.optim.Adam(D.parameters(), 1e-2)
    policy = _Frozen(G, D)
    after = _spy_after_steps(monkeypatch, opt_G, G, D)
    res = train.fit(G, D, DATA, loss=losses.gan_loss("ns"), opt_G=opt_G, opt_D=opt_D, steps=20, batch_size=32,
                    latent_dim=2, policy=policy, device="cpu", progress=False)
    _check_frozen(policy, after)
    h = policy.history()
    assert int(res.updates["D"]) == int(h.update_D.sum()) and int(res.updates["G"]) == int(h.update_G.sum())


def test_frozen_members_keep_their_parameters_ensemble(monkeypatch):
    seeds = [0, 1, 2, 3]
    G = ensemble.stack(lambda: models.mlp_generator(2, 2, width=8, depth=1), seeds)
    D = ensemble.stack(lambda: models.mlp_discriminator(2, width=8, depth=1), seeds)
    opt_G, opt_D = torch.optim.Adam(G.parameters(), 1e-2), torch.optim.Adam(D.parameters(), 1e-2)
    policy = _Frozen(G, D)
    after = _spy_after_steps(monkeypatch, opt_G, G, D)
    res = train.fit(G, D, DATA, loss=losses.gan_loss("ns"), opt_G=opt_G, opt_D=opt_D, steps=15, batch_size=32,
                    latent_dim=2, policy=policy, seed=seeds, device="cpu", progress=False)
    assert isinstance(policy.frozen[1][0], torch.Tensor) and policy.frozen[1][0].shape == (4,)
    _check_frozen(policy, after)
    h = policy.history()
    torch.testing.assert_close(res.updates["D"], torch.tensor(h.groupby("member").update_D.sum().tolist()))


@pytest.mark.parametrize("measure", ["loss", "ema", "accuracy"])
def test_resume_equals_uninterrupted(tmp_path, measure):
    def run(steps, path=None):
        torch.manual_seed(0)
        G, D = models.mlp_generator(2, 2, width=8, depth=1), models.mlp_discriminator(2, width=8, depth=1)
        policy = Cooperative(measure=measure)
        train.fit(G, D, DATA, loss=policy.watch(losses.gan_loss("ns")), opt_G=torch.optim.Adam(G.parameters(), 1e-2),
                  opt_D=torch.optim.Adam(D.parameters(), 1e-2), steps=steps, batch_size=32, latent_dim=2,
                  policy=policy, device="cpu", progress=False, checkpoint=path, checkpoint_every=5 if path else 0)
        return [t.clone() for t in (*G.state_dict().values(), *D.state_dict().values())], policy

    straight, p1 = run(12)
    run(5, tmp_path / "c.pt")  # interrupted after 5 steps (checkpoint at step 5) ...
    resumed, p2 = run(12, tmp_path / "c.pt")  # ... and resumed to 12
    for a, b in zip(straight, resumed):
        assert torch.equal(a, b)
    assert p1.history().equals(p2.history())
    fresh = Cooperative(measure=measure)
    fresh.load_state_dict(p1.state_dict())
    assert fresh.history().equals(p1.history())
    with pytest.raises(ValueError, match="cannot be loaded"):
        Cooperative(measure=measure, both_better="both").load_state_dict(p1.state_dict())


def test_batches_to_target():
    assert first_reaching([0, 10, 20, 30], [0.1, 0.5, 0.7, 0.9], 0.6) == 20
    assert first_reaching([0, 10, 20], [5.0, 3.0, 1.0], 2.0, higher_is_better=False) == 20
    assert first_reaching([0, 10], [0.1, 0.2], 0.5) != first_reaching([0, 10], [0.1, 0.2], 0.5)  # nan


def test_equal_time_steps_and_per_member_table():
    times = {"simultaneous": 1.0, "alternating": 1.25, "cooperative": 0.8}
    assert experiments.equal_time_steps(1000, times, "alternating") == 800
    assert experiments.equal_time_steps(1000, times, "cooperative") == 1250
    seeds = [0, 1, 2]
    G = ensemble.stack(lambda: models.mlp_generator(2, 2, width=8, depth=1), seeds)
    D = ensemble.stack(lambda: models.mlp_discriminator(2, width=8, depth=1), seeds)
    means = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    res = train.fit(G, D, DATA, loss=losses.gan_loss("ns"), opt_G=torch.optim.Adam(G.parameters(), 1e-2),
                    opt_D=torch.optim.Adam(D.parameters(), 1e-2), steps=4, batch_size=32, latent_dim=2,
                    policy=Cooperative(), seed=seeds, device="cpu", progress=False,
                    evaluate=metrics.ring_evaluator(means, 0.5, 100, 2), eval_every=2)
    long = metrics.per_member(res.evals)
    assert list(long.step) == [0, 0, 0, 2, 2, 2, 4, 4, 4] and list(long.member) == [0, 1, 2] * 3
    last = metrics.ring_metrics(ensemble.sample(G, 100, 2), means, 0.5)
    torch.testing.assert_close(torch.tensor(long.hqs.values[-3:], dtype=torch.float32), last["hqs"])


@pytest.mark.parametrize("measure", ["loss", "ema", "accuracy"])
def test_cooperative_gives_the_policy_and_the_loss_to_train_with(measure):
    ns = losses.gan_loss("ns")
    policy, loss = repeated.cooperative(ns, measure=measure, both_better="both")
    assert isinstance(policy, Cooperative)
    assert policy.options == {"measure": measure, "both_better": "both", "both_worse": "both", "beta": 0.9}
    if measure != "accuracy":
        assert loss is ns
        return
    assert loss is not ns and (loss.name, loss.options) == (ns.name, ns.options)
    real, fake = _t([[2.0], [-1.0]]), _t([[-2.0], [1.0]])
    policy.decide(0, loss.d(real, fake), loss.g(fake))  # the watched loss handed the logits over
    np.testing.assert_allclose(policy._previous, [(0.5 + 0.5) / 2, 0.5])


def test_resume_refuses_other_policy_options(tmp_path):
    def run(measure):
        torch.manual_seed(0)
        G, D = models.mlp_generator(2, 2, width=8, depth=1), models.mlp_discriminator(2, width=8, depth=1)
        policy, loss = repeated.cooperative(losses.gan_loss("ns"), measure=measure)
        train.fit(G, D, DATA, loss=loss, opt_G=torch.optim.Adam(G.parameters(), 1e-2),
                  opt_D=torch.optim.Adam(D.parameters(), 1e-2), steps=4, batch_size=32, latent_dim=2, policy=policy,
                  device="cpu", progress=False, checkpoint=tmp_path / "c.pt", checkpoint_every=2)

    run("loss")
    with pytest.raises(ValueError, match="policy_options.measure: 'loss' in the checkpoint vs 'ema' now"):
        run("ema")
