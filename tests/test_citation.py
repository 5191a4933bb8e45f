"""The release files: LICENSE says what pyproject declares, CITATION.cff validates against the Citation
File Format 1.2.0 schema (the schema cffconvert validates with, shipped in tests/data; cffconvert itself
pins jsonschema < 4, which the book's packages cannot share) and names the package's version."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "tests" / "data" / "citation-file-format-1.2.0.schema.json").read_text())


def _citation() -> dict:
    # CFF dates are strings in the schema; YAML would read an unquoted one as a date
    return yaml.safe_load((REPO / "CITATION.cff").read_text())


def test_citation_file_validates_and_matches_the_package():
    citation = _citation()
    jsonschema.Draft7Validator(SCHEMA).validate(citation)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert citation["version"] == project["version"] and citation["license"] == project["license"] == "MIT"


def test_the_schema_rejects_what_is_not_a_citation():
    broken = dict(_citation())
    del broken["authors"]
    with pytest.raises(jsonschema.ValidationError, match="authors"):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(dict(_citation(), license="not-a-licence"))


def test_license_file_is_the_mit_license():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
