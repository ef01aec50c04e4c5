"""What a problem measures: its biomarker's name, units and score, declared per problem in the
config (``problems.<name>.biomarker``) and read by every stage that depends on it.

Standard library only: the rules read it at parse time.

Scores:
    measure   the reference mask's measure: area (mm², 2D problems) or volume (mm³, 3D). RL
              learns it, every model is scored on it.
    agatston  the Agatston score of the reference calcium (Agatston units). RL learns the
              calcium volume and scores its localization mask; direct regressors learn the
              score; cases fall into the Agatston risk groups (split strata, Table IV, the
              risk-group confusion and proportion figures).
"""

import json
from dataclasses import asdict, dataclass

#: Units of a ``measure`` score by spatial dimensions.
MEASURE_UNITS = {2: "mm²", 3: "mm³"}
AGATSTON_UNITS = "Agatston units"


@dataclass(frozen=True)
class Biomarker:
    """A problem's biomarker.

    Attributes:
        problem: the problem's name (config key).
        name: the biomarker on an axis, e.g. "Pectoralis muscle area".
        short: the problem in titles and tables, e.g. "PMA".
        score: "measure" or "agatston" (module docstring).
        units: units of the reported score, e.g. "mm²".
    """

    problem: str
    name: str
    short: str
    score: str
    units: str

    @property
    def risk_groups(self) -> bool:
        """Whether cases fall into Agatston risk groups."""
        return self.score == "agatston"

    @property
    def column(self) -> str:
        """The manifest / cases.tsv column holding the reported score."""
        return "agatston" if self.score == "agatston" else "value"

    def axis_label(self, prefix: str = "") -> str:
        """'Prefix pectoralis muscle area (mm²)': an axis label with its unit."""
        text = f"{prefix} {self.name[0].lower()}{self.name[1:]}" if prefix else self.name
        return f"{text} ({self.units})"

    def to_json(self) -> str:
        """Compact JSON of every field (a CLI argument)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Biomarker":
        """The inverse of ``to_json``; ValueError naming a missing or unknown field."""
        fields = json.loads(text)
        try:
            return cls(**fields)
        except TypeError as err:
            raise ValueError(f"biomarker {fields}: {err}") from None


def of_problem(config: dict, problem: str) -> Biomarker:
    """The biomarker of ``problem`` from a (schema-valid) config: ``short`` defaults to the
    problem's name in capitals, the units follow from the score and ``spatial_dims``."""
    block = config["problems"][problem]
    declared = block["biomarker"]
    score = declared["score"]
    units = AGATSTON_UNITS if score == "agatston" else MEASURE_UNITS[block["spatial_dims"]]
    return Biomarker(
        problem, declared["name"], declared.get("short", problem.upper()), score, units
    )
