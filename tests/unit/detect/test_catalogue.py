"""Every registered detector is documented in docs/ and exercised by a test; the registry refuses
duplicates and unknown typologies."""

from __future__ import annotations

from pathlib import Path

import pytest

from harbour.detect.builtin import load_detectors
from harbour.detect.framework import DuplicateDetector, Registry
from harbour.detect.runners.reference import REFERENCE_DETECTORS, RefSelfTrade

ROOT = Path(__file__).resolve().parents[3]


def _text(paths: list[Path]) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in paths)


def test_every_registered_detector_is_documented() -> None:
    docs = sorted((ROOT / "docs").glob("detectors*.md")) + sorted((ROOT / "docs" / "detectors").glob("*.md"))
    text = _text(docs)
    names = load_detectors().names()
    assert names, "no detectors registered"
    missing = [n for n in names if n not in text]
    assert not missing, f"undocumented detectors (add them to docs/detectors*.md or docs/detectors/*.md): {missing}"


def test_every_registered_detector_is_named_in_a_test() -> None:
    this = Path(__file__).resolve()
    text = _text([p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != this])
    missing = [n for n in load_detectors().names() if n not in text]
    assert not missing, f"detectors no test names: {missing}"


def test_the_registry_refuses_duplicates_and_unknown_typologies() -> None:
    registry = Registry()
    registry.register(RefSelfTrade())
    with pytest.raises(DuplicateDetector, match="ref_self_trade"):
        registry.register(RefSelfTrade())

    class Odd(RefSelfTrade):
        name = "odd"
        typology = "jaywalking"

    with pytest.raises(ValueError, match="unknown typology 'jaywalking'"):
        registry.register(Odd())
    with pytest.raises(KeyError, match="known: ref_self_trade"):
        registry.get("nope")


def test_reference_detectors_stay_out_of_the_real_registry() -> None:
    assert not set(load_detectors().names()) & {d.name for d in REFERENCE_DETECTORS}


def test_every_detector_has_a_typed_config_with_documented_defaults() -> None:
    for detector in load_detectors().all():
        config = detector.default_config()
        for name, info in type(config).model_fields.items():
            assert info.description, f"{detector.name}: parameter {name!r} has no description"
        spec = detector.describe(config)
        assert spec.tables, detector.name
