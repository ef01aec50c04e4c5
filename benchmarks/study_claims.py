"""The paper's claims counted over the runs of a study over several data seeds (bench_study.py).

A run is one training repeat (``nall_r<k>``) of one data seed; each claim is checked on every
run where its models exist, with the learning-free baselines (one run per seed) of the same
seed. Numbers come from the studies' metrics JSONs (``results/metrics``); nothing here is
chosen.
"""

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

#: Metric name -> per-run value, by model, of one seed's study, per repeat:
#: runs[problem][model][rep][metric].
Runs = dict[str, dict[str, dict[int, dict[str, float]]]]


def per_run(workdir: Path) -> Runs:
    """Every main run's metrics of the study in ``workdir``."""
    out: Runs = {}
    for path in sorted((workdir / "results" / "metrics").glob("*/*/nall_r*.json")):
        if path.name.endswith(".prov.json"):
            continue
        rep = int(path.stem.removeprefix("nall_r"))
        metrics = json.loads(path.read_text())["metrics"]
        values = {k: float(v["value"]) for k, v in metrics.items() if "value" in v}
        out.setdefault(path.parts[-3], {}).setdefault(path.parts[-2], {})[rep] = values
    return out


def _metric(runs: Runs, problem: str, model: str, rep: int, metric: str) -> float | None:
    value = runs.get(problem, {}).get(model, {}).get(rep, {}).get(metric)
    return None if value is None or math.isnan(value) else value


def _paired(runs: Runs, problem: str, model: str, rep: int, metric: str) -> float | None:
    """``model``'s run ``rep``, or its run 0 where it has no repeats."""
    reps = runs.get(problem, {}).get(model, {})
    return _metric(runs, problem, model, rep if rep in reps else 0, metric)


def _best_baseline(runs: Runs, problem: str, metric: str, baselines: list[str]) -> float | None:
    values = [_metric(runs, problem, b, 0, metric) for b in baselines]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _compare(a: float | None, b: float | None, test: Callable[[float, float], bool]):
    return None if a is None or b is None else bool(test(a, b))


def claims(baselines: list[str]) -> dict[str, Callable[[Runs, int], bool | None]]:
    """Each claim: (one seed's runs, repeat) -> holds, or None where its models are missing."""

    def rl(runs, p, rep, m):
        return _metric(runs, p, "rl-unet", rep, m)

    out: dict[str, Callable[[Runs, int], bool | None]] = {}
    for p in ("pma", "sfa"):
        out[f"{p}: rl-unet rho > enc-unet rho"] = lambda r, k, p=p: _compare(
            rl(r, p, k, "rho"), _paired(r, p, "enc-unet", k, "rho"), lambda a, b: a > b
        )
        out[f"{p}: rl-unet Dice >= 0.80"] = lambda r, k, p=p: _compare(
            rl(r, p, k, "dice"), 0.80, lambda a, b: a >= b
        )
        out[f"{p}: rl-unet Dice >= best learning-free Dice"] = lambda r, k, p=p: _compare(
            rl(r, p, k, "dice"), _best_baseline(r, p, "dice", baselines), lambda a, b: a >= b
        )
    out["liver: rl-unet Dice >= seg-unet Dice - 0.05"] = lambda r, k: _compare(
        rl(r, "liver", k, "dice"),
        _paired(r, "liver", "seg-unet", k, "dice"),
        lambda a, b: a >= b - 0.05,
    )
    out["liver: rl-unet Dice >= 0.40"] = lambda r, k: _compare(
        rl(r, "liver", k, "dice"), 0.40, lambda a, b: a >= b
    )
    out["liver: rl-unet rho >= 0.90"] = lambda r, k: _compare(
        rl(r, "liver", k, "rho"), 0.90, lambda a, b: a >= b
    )
    out["cac: enc-unet rho >= 0.85"] = lambda r, k: _compare(
        _metric(r, "cac", "enc-unet", k, "rho"), 0.85, lambda a, b: a >= b
    )
    out["cac: rl-unet rho > enc-unet rho"] = lambda r, k: _compare(
        rl(r, "cac", k, "rho"), _paired(r, "cac", "enc-unet", k, "rho"), lambda a, b: a > b
    )
    out["cac: rl-unet rho > best learning-free rho"] = lambda r, k: _compare(
        rl(r, "cac", k, "rho"), _best_baseline(r, "cac", "rho", baselines), lambda a, b: a > b
    )
    return out


def _spread(values: list[float]) -> dict:
    """n, mean, sd, min, max and the 95% t interval of the mean of ``values``."""
    a = np.asarray(values, float)
    out = {"n": len(a), "mean": round(float(a.mean()), 4)}
    out |= {"min": round(float(a.min()), 4), "max": round(float(a.max()), 4)}
    if len(a) > 1:
        sd = float(a.std(ddof=1))
        half = float(stats.t.ppf(0.975, len(a) - 1)) * sd / math.sqrt(len(a))
        out |= {
            "sd": round(sd, 4),
            "ci_mean": [round(out["mean"] - half, 4), round(out["mean"] + half, 4)],
        }
    return out


def summary(by_seed: dict[str, Runs], baselines: list[str]) -> dict:
    """Per problem, model and metric the spread over all runs of all seeds; per claim the runs
    in which it holds, of those where it could be checked."""
    pooled: dict[str, dict[str, dict[str, list[float]]]] = {}
    for runs in by_seed.values():
        for problem, models in runs.items():
            for model, reps in models.items():
                for values in reps.values():
                    for metric, value in values.items():
                        if not math.isnan(value):
                            bucket = pooled.setdefault(problem, {}).setdefault(model, {})
                            bucket.setdefault(metric, []).append(value)
    spread = {
        problem: {
            model: {metric: _spread(v) for metric, v in metrics.items()}
            for model, metrics in models.items()
        }
        for problem, models in pooled.items()
    }
    counted = {}
    for name, claim in claims(baselines).items():
        outcomes = [
            claim(runs, rep)
            for runs in by_seed.values()
            for rep in sorted({k for m in runs.values() for r in m.values() for k in r})
        ]
        checked = [o for o in outcomes if o is not None]
        counted[name] = {"holds": sum(checked), "runs": len(checked)}
    return {"metrics": spread, "claims": counted}
