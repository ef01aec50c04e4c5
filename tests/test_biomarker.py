"""Problem traits: what a problem measures is read from its config block, never from its name."""

import copy

import pytest

from conftest import ROOT
from rlnet import config as cfg
from rlnet.biomarker import Biomarker, of_problem
from rlnet.split import default_strata
from rlnet.training.targets import target_column

DEFAULT = cfg.load(ROOT / "config" / "config.yaml")


def test_the_default_problems_units_and_names():
    """The paper's units: areas in mm², the calcium score in Agatston units."""
    expected = {
        "pma": ("Pectoralis muscle area", "PMA", "mm²", False),
        "sfa": ("Subcutaneous fat area", "SFA", "mm²", False),
        "cac": ("Agatston score", "CAC", "Agatston units", True),
        "liver": ("Liver tumour area", "Liver tumour", "mm²", False),
    }
    for problem, (name, short, units, risk) in expected.items():
        found = of_problem(DEFAULT, problem)
        assert (found.name, found.short, found.units, found.risk_groups) == (
            name,
            short,
            units,
            risk,
        )
    assert of_problem(DEFAULT, "pma").axis_label("Predicted") == (
        "Predicted pectoralis muscle area (mm²)"
    )


def test_traits_follow_the_config_not_the_name():
    """A problem named like none of the paper's: a 3D measure is a volume, short defaults to
    the name in capitals; renaming cac keeps its Agatston traits."""
    config = copy.deepcopy(DEFAULT)
    config["problems"]["heart_volume"] = {
        **config["problems"]["cac"],
        "biomarker": {"name": "Heart volume", "score": "measure"},
    }
    config["problems"]["calcium"] = config["problems"].pop("cac")
    cfg.validate(config)
    volume = of_problem(config, "heart_volume")
    assert (volume.short, volume.units, volume.column, volume.risk_groups) == (
        "HEART_VOLUME",
        "mm³",
        "value",
        False,
    )
    calcium = of_problem(config, "calcium")
    assert (calcium.column, calcium.risk_groups) == ("agatston", True)
    assert cfg.training_settings(config, "calcium").score == "agatston"
    assert cfg.training_settings(config, "heart_volume").score == "measure"


def test_direct_regressors_learn_the_agatston_score_rl_the_volume():
    assert target_column("agatston", "enc") == "agatston"
    assert target_column("agatston", "rl") == "value"
    assert target_column("measure", "enc") == "value"
    assert default_strata(by_risk=True) == 5 and default_strata(by_risk=False) == 4


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda p: p["biomarker"].update(score="volume"), "problems.pma.biomarker.score"),
        (lambda p: p.pop("biomarker"), "problems.pma"),
        (
            lambda p: p.update(
                biomarker={"name": "x", "score": "agatston"}, source={"manifest": "m"}
            ),
            "problems.pma.biomarker.score",
        ),
    ],
)
def test_bad_biomarkers_are_named(edit, key):
    config = copy.deepcopy(DEFAULT)
    edit(config["problems"]["pma"])
    with pytest.raises(cfg.ConfigError, match=key.replace(".", r"\.")):
        cfg.validate(config)


def test_a_problem_name_must_fit_paths_and_wildcards():
    config = copy.deepcopy(DEFAULT)
    config["problems"]["Bad-Name"] = config["problems"].pop("pma")
    config["sample_size"]["problems"] = ["sfa"]
    with pytest.raises(cfg.ConfigError, match="Bad-Name"):
        cfg.validate(config)


def test_json_round_trip_and_a_missing_field_named():
    found = of_problem(DEFAULT, "cac")
    assert Biomarker.from_json(found.to_json()) == found
    with pytest.raises(ValueError, match="units"):
        Biomarker.from_json('{"problem": "x", "name": "X", "short": "X", "score": "measure"}')


def test_a_synthetic_agatston_problem_needs_a_calcium_mask():
    config = copy.deepcopy(DEFAULT)
    config["problems"]["cac"]["source"]["target"] = "heart"
    with pytest.raises(cfg.ConfigError, match=r"problems\.cac\.source\.target.*cac"):
        cfg.validate(config)
