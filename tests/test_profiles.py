"""Profiles: per chapter shared settings once, then what quick and paper change, in nested groups;
both profiles resolve to the same names; errors name the choices."""

import copy
import pickle

import pytest

from gancore import profiles


def _leaves(settings, where=""):
    """{dotted name: value} of every setting, groups flattened."""
    out = {}
    for key, value in settings.items():
        out |= _leaves(value, f"{where}{key}.") if isinstance(value, dict) else {where + key: value}
    return out


def test_every_chapter_has_shared_settings_and_both_profiles():
    for chapter, sets in profiles.CHAPTERS.items():
        assert set(sets) == {"shared", *profiles.PROFILES}, chapter


def test_both_profiles_resolve_to_the_same_nested_structure():
    for chapter in profiles.CHAPTERS:
        quick, paper = (profiles.get(chapter, p) for p in profiles.PROFILES)
        assert list(_leaves(quick)) == list(_leaves(paper)), chapter
        for name in _leaves(quick):  # a group in one profile is a group in the other
            *group, _ = name.split(".")
            for P in (quick, paper):
                for part in group:
                    P = P[part]
                assert isinstance(P, profiles.Settings), (chapter, name)


def test_shared_settings_appear_once():
    for chapter, sets in profiles.CHAPTERS.items():
        shared, quick, paper = (_leaves(sets[k]) for k in ("shared", "quick", "paper"))
        assert list(quick) == list(paper), chapter  # a profile changes the same settings as the other
        assert not set(shared) & set(quick), (chapter, set(shared) & set(quick))  # and none of the shared ones
        same = [name for name in quick if quick[name] == paper[name] and type(quick[name]) is type(paper[name])]
        assert not same, (chapter, same)  # a setting equal in both profiles belongs in "shared"
    sets = profiles.CHAPTERS["srfb"]
    assert sets["shared"]["det"]["lr"]["EG"] == 0.8 and "det" not in sets["quick"] and "det" not in sets["paper"]


def test_a_profile_group_merges_into_the_shared_group_key_by_key():
    P, Q = profiles.get("srfb", "quick"), profiles.get("srfb", "paper")
    assert P.image.batch_size == Q.image.batch_size == 64 and P.image.lr.SRFB == (1.0, 3.0)  # shared part of the group
    assert (P.image.width, Q.image.width) == (16, 64)
    assert (P.image.data, Q.image.data) == (("digits",), ("mnist", "cifar10"))
    R = profiles.get("repeated_game", "quick")
    assert R.time_per_batch.ring == {"simultaneous": 1.0, "alternating": 0.98, "cooperative": 1.14}


def test_get_and_errors():
    P = profiles.get("toolkit", "quick")
    assert P.steps == profiles.CHAPTERS["toolkit"]["quick"]["steps"] and P.data == "ring"
    with pytest.raises(ValueError, match="Known profiles: quick, paper"):
        profiles.get("toolkit", "huge")
    with pytest.raises(ValueError, match="Known chapters"):
        profiles.get("nope", "quick")
    with pytest.raises(AttributeError, match="settings are"):
        P.not_a_setting
    with pytest.raises(TypeError):
        P["steps"] = 1


def test_overrides_replace_settings_and_reject_unknown_names():
    P = profiles.get("alpha_gan", "quick", {"ring": {"seeds": 32}})
    assert P.ring.seeds == 32 and P.ring.steps == profiles.CHAPTERS["alpha_gan"]["quick"]["ring"]["steps"]
    assert P.ring.batch_size == profiles.CHAPTERS["alpha_gan"]["shared"]["ring"]["batch_size"]
    assert profiles.CHAPTERS["alpha_gan"]["quick"]["ring"]["seeds"] != 32  # the profile itself is unchanged
    with pytest.raises(ValueError, match=r"Unknown setting\(s\) ring.sedes .*Its settings are: ring.batch_size, "
                                         r"ring.g_width, .*ring.seeds, ring.n_eval, ring.eval_every\.$"):
        profiles.get("alpha_gan", "quick", {"ring": {"sedes": 32}})
    with pytest.raises(ValueError, match=r"Unknown setting\(s\) ring_seeds .*Its settings are: ring.\{batch_size, "
                                         r"g_width, .*seeds, n_eval, eval_every\}, p_min, .*nested dict: \{'ring': \{...\}\}"):
        profiles.get("alpha_gan", "quick", {"ring_seeds": 32})  # a group's settings are not prefixed names
    line = profiles.describe("alpha_gan", "quick", "cpu", "ring", {"ring": {"seeds": 32, "steps": 10}, "p_min": 0.1})
    assert "profile quick with p_min=0.1 ring.seeds=32 ring.steps=10 |" in line
    assert "with" not in profiles.describe("alpha_gan", "quick", "cpu", "ring")


def test_get_returns_a_fresh_read_only_copy_all_the_way_down():
    P = profiles.get("srfb", "quick")
    table = profiles.CHAPTERS["srfb"]["shared"]
    assert P.det.lr.EG == table["det"]["lr"]["EG"] and isinstance(P.det.lr, profiles.Settings)
    assert P.det.lr is not table["det"]["lr"] and P.det.lr is not profiles.get("srfb", "quick").det.lr
    for change in (lambda: P.det.lr.__setitem__("EG", 5.0), lambda: P.det.lr.update(EG=5.0),
                   lambda: P.det.lr.pop("EG"), lambda: setattr(P, "steps", 1), lambda: P.__delitem__("delta"),
                   lambda: P.image.__setitem__("width", 5)):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert table["det"]["lr"]["EG"] == 0.8 and profiles.get("srfb", "quick").det.lr.EG == 0.8
    assert profiles.CHAPTERS["srfb"]["quick"]["image"] == dict(data=("digits",), width=16, latent=32, budget=600,
                                                                eval_every=100)  # merging left the table alone
    cfg = profiles.get("convex_wgan", "quick").procogan[0]  # groups inside tuples are Settings too
    assert cfg.ks == (3, 10, 24) and isinstance(cfg, profiles.Settings)
    assert P.image.lr == table["image"]["lr"] and P.image.lr is not table["image"]["lr"]


def test_settings_survive_pickle_and_copy():
    P = profiles.get("repeated_game", "quick")
    for again in (pickle.loads(pickle.dumps(P)), copy.deepcopy(P), copy.copy(P)):
        assert again == P and type(again.time_per_batch.ring) is profiles.Settings


def test_nested_overrides_merge():
    P = profiles.get("srfb", "quick", {"det": {"lr": {"EG": 0.5}}})
    assert P.det.lr.EG == 0.5 and P.det.lr.SRFB == 0.8 and P.det.steps == 500
    assert set(P.det.lr) == set(profiles.CHAPTERS["srfb"]["shared"]["det"]["lr"])
    Q = profiles.get("repeated_game", "quick", {"time_per_batch": {"ring": {"cooperative": 1.5}}})
    assert Q.time_per_batch.ring.cooperative == 1.5 and Q.time_per_batch.ring.alternating == 0.98
    assert Q.time_per_batch.ring.simultaneous == 1.0
    assert Q.time_per_batch.image == profiles.get("repeated_game", "quick").time_per_batch.image
    with pytest.raises(ValueError, match=r"Unknown setting\(s\) det.lr.XX .*Its settings are: det.lr.GDA, det.lr.EG"):
        profiles.get("srfb", "quick", {"det": {"lr": {"XX": 1.0}}})


def test_an_override_of_a_group_merges_over_the_profile_and_the_shared_settings():
    P = profiles.get("srfb", "paper", {"image": {"width": 32, "batch_size": 16}})
    assert (P.image.width, P.image.batch_size) == (32, 16)  # one from "paper", one from "shared"
    assert P.image.latent == 100 and P.image.budget == 200_000 and P.image.lr.SRFB == (1.0, 3.0)  # the rest kept
    assert profiles.get("srfb", "paper").image.width == 64
    with pytest.raises(ValueError, match=r"Unknown setting\(s\) image.widht for chapter 'srfb'\. Its settings are: "
                                         r"image.batch_size, image.lr.\{SRFB, EG, Adam\}, image.delta, image.seeds, "
                                         r"image.data, image.width, image.latent, image.budget, image.eval_every\.$"):
        profiles.get("srfb", "paper", {"image": {"widht": 32}})


@pytest.mark.parametrize("chapter, overrides, message", [
    ("srfb", {"det": {"steps": "500"}}, r"Setting det.steps of chapter 'srfb': got '500' \(str\); expected int\."),
    ("srfb", {"det": {"steps": None}}, r"det.steps .*got None \(NoneType\); expected int\."),
    ("srfb", {"det": {"steps": True}}, r"det.steps .*got True \(bool\); expected int\."),
    ("srfb", {"det": {"steps": 2.5}}, r"det.steps .*got 2.5 \(float\); expected int\."),
    ("srfb", {"det": {"steps": -5}}, r"det.steps of chapter 'srfb': got -5; .*must be >= 0"),
    ("srfb", {"delta": "0.5"}, r"delta .*got '0.5' \(str\); expected float\."),
    ("srfb", {"det": 0.5}, r"Setting det .*got 0.5 \(float\); expected a dict\."),
    ("srfb", {"det": {"lr": 0.5}}, r"det.lr .*got 0.5 \(float\); expected a dict\."),
    ("srfb", {"det": {"lr": {"EG": "fast"}}}, r"Setting det.lr.EG .*got 'fast' \(str\); expected float\."),
    ("srfb", {"nbhd": {"lrs": 0.1}}, r"nbhd.lrs .*expected a list\."),
    ("srfb", {"nbhd": {"batches": [1, "4"]}}, r"Setting nbhd.batches\[1\] .*got '4' \(str\); expected int\."),
    ("srfb", {"image": {"data": "mnist"}}, r"image.data .*got 'mnist' \(str\); expected a list\."),
    ("srfb", {"image": {"width": -1}}, r"image.width .*got -1; .*\(its profiles give 16, 64\) and must be >= 0"),
    ("srfb", {"data_root": 3}, r"data_root .*got 3 \(int\); expected None or str\."),
    ("toolkit", {"data": None}, r"data .*expected str\."),
    ("double_oracle", {"ablation_caps": [3, -1]}, r"ablation_caps\[1\] .*must be >= 0"),
    ("convex_wgan", {"procogan": [{"data": "digits"}]}, r"procogan\[0\] of chapter 'convex_wgan' lacks resolutions"),
    ("toolkit", '{"steps": 500}', r"overrides must be a dict of settings.*got str"),
    ("toolkit", ["steps"], r"overrides must be a dict of settings.*got list"),
])
def test_overrides_are_type_checked(chapter, overrides, message):
    with pytest.raises(ValueError, match=message):
        profiles.get(chapter, "quick", overrides)


def test_overrides_of_the_right_type_are_normalised():
    P = profiles.get("srfb", "quick",
                     {"delta": 1, "nbhd": {"lrs": [1, 0.5]}, "data_root": "/data", "det": {"steps": 0}})
    assert P.delta == 1.0 and type(P.delta) is float and P.nbhd.lrs == (1.0, 0.5) and P.det.steps == 0
    assert P.data_root == "/data" and profiles.get("srfb", "quick", {"data_root": None}).data_root is None
    assert profiles.get("convex_wgan", "quick", {"n_images": 500}).n_images == 500  # None in quick, int in paper
    assert profiles.get("double_oracle", "quick", {"ablation_caps": [3, None]}).ablation_caps == (3, None)


def test_settings_none_in_every_profile_have_a_declared_type():
    for chapter in profiles.CHAPTERS:
        quick, paper = (_leaves(profiles.get(chapter, p)) for p in profiles.PROFILES)
        for name in quick:
            if quick[name] is None and paper[name] is None:
                assert name.rsplit(".", 1)[-1] in profiles.OPTIONAL, (chapter, name)
