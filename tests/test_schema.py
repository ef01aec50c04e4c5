"""Every key of the config schema says what it is: a non-empty JSON-schema `description` on
each property, each per-name entry (a problem, an infer block) and each shared definition."""

from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def keyed_schemas(node: object, path: str = "") -> Iterator[tuple[str, dict]]:
    """(path, schema) of every schema that describes a key: the values of ``properties`` and
    ``definitions`` and a mapping-valued ``additionalProperties`` (the schema of any key a user
    names, e.g. a problem) other than a bare ``$ref``, at any depth."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from keyed_schemas(item, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("properties", "definitions") and isinstance(value, dict):
            for name, schema in value.items():
                yield f"{path}.{name}".lstrip("."), schema
                yield from keyed_schemas(schema, f"{path}.{name}")
        elif key == "additionalProperties" and isinstance(value, dict):
            if set(value) != {"$ref"}:
                yield f"{path}.<name>".lstrip("."), value
            yield from keyed_schemas(value, f"{path}.<name>")
        else:
            yield from keyed_schemas(value, path)


def undescribed(schema: dict) -> list[str]:
    return [
        path
        for path, node in keyed_schemas(schema)
        if not (isinstance(node, dict) and str(node.get("description") or "").strip())
    ]


def test_every_schema_key_has_a_description():
    schema = yaml.safe_load(SCHEMA.read_text())
    paths = [path for path, _ in keyed_schemas(schema)]
    # the walk reaches the deepest keys, a problem's entry and a shared definition
    assert {"training.lr.rl", "problems.<name>.source.lits", "problems.<name>"} <= set(paths)
    assert {"infer.<name>.scans", "training.augment.displacement_mm", "model_name"} <= set(paths)
    assert undescribed(schema) == []


def test_a_key_without_description_is_named():
    schema = {
        "properties": {
            "a": {"description": "fine", "properties": {"b": {"type": "integer"}}},
            "c": {"description": " ", "additionalProperties": {"type": "object"}},
            "d": {"description": "fine", "additionalProperties": {"$ref": "#/x"}},
        },
        "definitions": {"x": {"type": "string"}},
    }
    assert undescribed(schema) == ["a.b", "c", "c.<name>", "x"]
