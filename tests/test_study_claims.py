"""The claim counts of a study over several seeds (benchmarks/study_claims.py), by hand."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import study_claims  # noqa: E402

#: Two seeds: seed 1 with two rl-unet repeats, seed 2 with one; enc-unet repeated alike.
SEED_1 = {
    "pma": {
        "rl-unet": {0: {"rho": 0.99, "dice": 0.85}, 1: {"rho": 0.95, "dice": 0.75}},
        "enc-unet": {0: {"rho": 0.97}, 1: {"rho": 0.96}},
        "rule": {0: {"rho": 0.9, "dice": 0.80}},
    }
}
SEED_2 = {
    "pma": {
        "rl-unet": {0: {"rho": 0.98, "dice": 0.90}},
        "enc-unet": {0: {"rho": 0.99}},
        "rule": {0: {"rho": 0.9, "dice": 0.70}},
    }
}


def test_claims_are_counted_per_run_against_the_same_seed():
    """rho: 0.99 > 0.97 yes, 0.95 > 0.96 no, 0.98 > 0.99 no -> 1 of 3; Dice >= 0.80: 2 of 3;
    Dice >= the seed's best baseline (0.80, 0.80, 0.70): 0.85 yes, 0.75 no, 0.90 yes."""
    out = study_claims.summary({"1": SEED_1, "2": SEED_2}, ["rule", "candidates"])
    claims = out["claims"]
    assert claims["pma: rl-unet rho > enc-unet rho"] == {"holds": 1, "runs": 3}
    assert claims["pma: rl-unet Dice >= 0.80"] == {"holds": 2, "runs": 3}
    assert claims["pma: rl-unet Dice >= best learning-free Dice"] == {"holds": 2, "runs": 3}
    assert claims["sfa: rl-unet rho > enc-unet rho"] == {"holds": 0, "runs": 0}


def test_the_spread_is_over_every_run_of_every_seed():
    """Dice 0.85, 0.75, 0.90: mean 0.8333, sd 0.0764, t(2) 4.303 -> half-width 0.1897."""
    dice = study_claims.summary({"1": SEED_1, "2": SEED_2}, [])["metrics"]["pma"]["rl-unet"]
    assert dice["dice"]["n"] == 3
    assert dice["dice"]["mean"] == 0.8333 and dice["dice"]["sd"] == 0.0764
    assert dice["dice"]["ci_mean"] == [0.6436, 1.023]
