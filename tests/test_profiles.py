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
