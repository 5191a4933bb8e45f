"""gancore.provenance: what run.json files record about where a result came from."""

import re
from pathlib import Path

from gancore import provenance


def test_git_commit_of_this_checkout_and_outside_one(tmp_path):
    commit = provenance.git_commit(Path(__file__).parent)
    assert commit == "unknown" or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)
    assert provenance.git_commit(tmp_path) == "unknown"


def test_versions_name_every_package_and_python():
    found = provenance.versions()
    assert set(found) == set(provenance.PACKAGES) | {"python"} and all(found.values())
