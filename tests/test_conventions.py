"""Method conventions (`conventions:` in a protocol; metareview.inputs.conventions)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from metareview.errors import InputError
from metareview.inputs.conventions import PRESETS
from metareview.inputs.protocol import load_protocol, outcome_settings
from metareview.present.methods import methods_paragraph

BASE = {
    "review_id": "conv",
    "title": "Conventions",
    "arms": {"intervention": "i", "control": "c", "single": "i"},
    "outcomes": [
        {"id": "death", "label": "Death", "direction": "lower_is_better"},
        {"id": "rd", "label": "Risk difference", "direction": "lower_is_better", "measure": "RD"},
        {"id": "prop", "label": "Proportion", "direction": "higher_is_better", "measure": "PLO"},
        {"id": "own", "label": "Own model", "direction": "lower_is_better", "method": "PM"},
    ],
}


def load(tmp_path: Path, **changes) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.update(changes)
    path = tmp_path / "conv.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_protocol(path)


def test_revman5_fills_defaults_by_measure(tmp_path):
    p = load(tmp_path, conventions="revman5")
    death, rd, prop, own = (outcome_settings(p, o) for o in ("death", "rd", "prop", "own"))
    assert (death["method"], death["test"], death["add"], death["to"], death["drop00"]) == (
        "MH",
        "z",
        0.5,
        "only0",
        True,
    )
    assert (rd["method"], rd["drop00"]) == ("MH", False)  # RevMan keeps double zeros for RD
    assert prop["method"] == "FE"  # MH takes no single-arm proportion: inverse variance
    assert own["method"] == "PM"  # an outcome's own key wins


def test_cochrane_2025_and_explicit_defaults_win(tmp_path):
    p = load(tmp_path, conventions="cochrane-2025")
    s = outcome_settings(p, "death")
    assert (s["method"], s["test"], s["level"]) == ("REML", "knha", 95)
    p = load(tmp_path, conventions="cochrane-2025", defaults={"method": "DL", "level": 90})
    s = outcome_settings(p, "death")
    assert (s["method"], s["test"], s["level"]) == ("DL", "knha", 90)
    assert outcome_settings(p, "prop")["method"] == "DL"  # explicit default: not replaced
    text = str(methods_paragraph(p))
    assert "conventions: cochrane-2025" in text and "Hartung-Knapp-Sidik-Jonkman" in text


def test_revman5_random_and_metafor(tmp_path):
    s = outcome_settings(load(tmp_path, conventions="revman5-random"), "death")
    assert (s["method"], s["test"], s["drop00"]) == ("DL", "z", True)
    s = outcome_settings(load(tmp_path, conventions="metafor"), "death")
    assert (s["method"], s["test"], s["add"], s["drop00"]) == ("REML", "z", 0.5, False)


def test_no_conventions_changes_nothing(tmp_path):
    p = load(tmp_path)
    assert "conventions" not in p and outcome_settings(p, "death")["method"] == "REML"
    assert "conventions:" not in str(methods_paragraph(p))


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(InputError) as info:
        load(tmp_path, conventions="revman6")
    assert info.value.column == "conventions"


def test_schema_lists_every_preset():
    schema = yaml.safe_load(
        (
            Path(__file__).resolve().parents[1] / "metareview/schemas/protocol.schema.yaml"
        ).read_text()
    )
    assert schema["properties"]["conventions"]["enum"] == list(PRESETS)
