"""Profiles: every chapter has both profiles with the same keys; errors name the choices."""

import pytest

from gancore import profiles


def test_every_chapter_has_both_profiles_with_the_same_keys():
    for chapter, sets in profiles.CHAPTERS.items():
        assert set(sets) == set(profiles.PROFILES), chapter
        assert set(sets["quick"]) == set(sets["paper"]), chapter


def test_get_and_errors():
    P = profiles.get("toolkit", "quick")
    assert P.steps == profiles.CHAPTERS["toolkit"]["quick"]["steps"]
    with pytest.raises(ValueError, match="Known profiles: quick, paper"):
        profiles.get("toolkit", "huge")
    with pytest.raises(ValueError, match="Known chapters"):
        profiles.get("nope", "quick")
    with pytest.raises(AttributeError, match="settings are"):
        P.not_a_setting
    with pytest.raises(TypeError):
        P["steps"] = 1


def test_overrides_replace_settings_and_reject_unknown_names():
    P = profiles.get("alpha_gan", "quick", {"ring_seeds": 32})
    assert P.ring_seeds == 32 and P.ring_steps == profiles.CHAPTERS["alpha_gan"]["quick"]["ring_steps"]
    assert profiles.CHAPTERS["alpha_gan"]["quick"]["ring_seeds"] != 32  # the profile itself is unchanged
    with pytest.raises(ValueError, match="Unknown setting.*ring_sedes.*Its settings are: .*ring_seeds"):
        profiles.get("alpha_gan", "quick", {"ring_sedes": 32})
    line = profiles.describe("alpha_gan", "quick", "cpu", "ring", {"ring_seeds": 32})
    assert "profile quick with ring_seeds=32 |" in line
    assert "with" not in profiles.describe("alpha_gan", "quick", "cpu", "ring")
