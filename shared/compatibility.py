"""The compatibility policy, enforced: a released event version never changes in a way a
subscriber (or a partner) could trip on.

Each event version the registry (shared/contracts.py) declares is released once as an artifact,
`docs/contracts/released/<topic>.json`: its topic, CloudEvents type, Kafka key, headers and
payload JSON Schema, as subscribers read them in the AsyncAPI documents. `make check-contracts`
(and tests/unit/test_compatibility.py, in every CI run) compares each contract with its artifact;
`make release-contracts` writes the artifacts of new versions and never rewrites one.

Breaking, for every event (what a subscriber built on the released schema relies on):
- the topic, the CloudEvents type, the key's format or a header changes; a required header goes;
- a field is removed or renamed (a rename is a removal and an addition);
- a field becomes required, or a new field is required;
- a field's type narrows: a type, an enum value or a union arm is no longer accepted, a const,
  pattern or format is added or changed, a bound tightens (minLength, maxLength, minimum,
  maximum, minItems, maxItems), `additionalProperties` closes; in nested objects and array items
  too.
Also breaking for the events we publish (not for the partner-facing ones we consume, where
accepting more is what keeps partners working): a field's type widens (a new type, enum value
or union arm: a subscriber switching on the value meets one it has never seen), or a required
field becomes optional (subscribers rely on it being there).
Not breaking: a new optional field (subscribers ignore fields they do not know), descriptions,
titles and examples.

A breaking change is a new version (`vN+1`, a topic of its own) published beside `vN` for the
deprecation period (`Contract.deprecation`, at least six months), after which `vN` is removed and
its artifact moves to docs/contracts/retired/.

    python -m shared.compatibility check     # exit 1 naming each break
    python -m shared.compatibility release   # artifacts for versions not released yet
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Final

from shared import asyncapi, contracts
from shared.contracts import Contract

ROOT: Final = Path(__file__).resolve().parent.parent
RELEASED: Final = ROOT / "docs" / "contracts" / "released"
RETIRED: Final = ROOT / "docs" / "contracts" / "retired"

# Bounds whose rise narrows what is accepted, and those whose fall does.
LOWER_BOUNDS: Final = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
UPPER_BOUNDS: Final = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
EXACT: Final = ("pattern", "format")
ANY: Final = "any"


def artifact(contract: Contract[Any]) -> dict[str, Any]:
    """What a subscriber relies on for one event version (what the AsyncAPI documents say of it)."""
    key: dict[str, Any] = {"description": contract.key_doc}
    if contract.key_format:
        key["format"] = contract.key_format
    return {
        "event": contract.event_name,
        "topic": contract.topic,
        "type": contract.event_type,
        "partner_facing": contract.partner_facing,
        "key": key,
        "headers": asyncapi.headers_schema(contract),
        "payload": contract.model.model_json_schema(mode="validation"),
    }


def artifact_path(topic: str, folder: Path = RELEASED) -> Path:
    return folder / f"{topic}.json"


# --- comparing ----------------------------------------------------------------------------------


def breaking_changes(released: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Each change of `current` against the `released` artifact a subscriber could trip on, with
    where it is and why (empty: compatible)."""
    found: list[str] = []
    for part in ("topic", "type"):
        if released.get(part) != current.get(part):
            found.append(f"{part}: {released.get(part)!r} became {current.get(part)!r}")
    old_key, new_key = released.get("key", {}), current.get("key", {})
    if old_key.get("format") != new_key.get("format"):
        found.append(f"key: format {old_key.get('format')!r} became {new_key.get('format')!r}")
    published = not released.get("partner_facing", False)
    found += _Compare(released["headers"], current["headers"], published).schema(
        released["headers"], current["headers"], "headers"
    )
    found += _Compare(released["payload"], current["payload"], published).schema(
        released["payload"], current["payload"], "payload"
    )
    return found


class _Compare:
    """One schema against its released self; `published`: also refuse widening (see the module)."""

    def __init__(self, old_root: Mapping[str, Any], new_root: Mapping[str, Any], published: bool) -> None:
        self.roots = (old_root, new_root)
        self.published = published

    def schema(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> list[str]:
        old_arms = _arms(old, self.roots[0])
        new_arms = _arms(new, self.roots[1])
        found: list[str] = []
        for kind, old_arm in old_arms.items():
            match = new_arms.get(kind) or (new_arms.get("number") if kind == "integer" else None)
            if match is None and ANY in new_arms:
                continue
            if match is None:
                found.append(f"{path}: {kind} is no longer accepted (type narrowed)")
                continue
            found += self._arm(old_arm, match, f"{path}", kind)
        if self.published and ANY not in old_arms:
            for kind in new_arms:
                widened_integer = kind == "number" and "integer" in old_arms and "number" not in old_arms
                if kind not in old_arms or widened_integer:
                    found.append(f"{path}: {kind} is accepted now (type widened)")
        return found

    def _arm(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str, kind: str) -> list[str]:
        found: list[str] = []
        old_values, new_values = _values(old), _values(new)
        if new_values is not None and old_values is None:
            found.append(f"{path}: now limited to {sorted(map(str, new_values))} (type narrowed)")
        elif old_values is not None and new_values is not None:
            if old_values - new_values:
                found.append(f"{path}: {sorted(map(str, old_values - new_values))} no longer accepted")
            if self.published and new_values - old_values:
                found.append(f"{path}: {sorted(map(str, new_values - old_values))} accepted now (widened)")
        for bound in LOWER_BOUNDS:
            if new.get(bound) is not None and (old.get(bound) is None or new[bound] > old[bound]):
                found.append(f"{path}: {bound} {old.get(bound)} became {new[bound]} (narrowed)")
        for bound in UPPER_BOUNDS:
            if new.get(bound) is not None and (old.get(bound) is None or new[bound] < old[bound]):
                found.append(f"{path}: {bound} {old.get(bound)} became {new[bound]} (narrowed)")
        for exact in EXACT:
            if new.get(exact) is not None and new.get(exact) != old.get(exact):
                found.append(f"{path}: {exact} {old.get(exact)!r} became {new[exact]!r} (narrowed)")
        if kind == "object":
            found += self._object(old, new, path)
        if kind == "array":
            found += self.schema(old.get("items", {}), new.get("items", {}), f"{path}[]")
        return found

    def _object(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> list[str]:
        found: list[str] = []
        old_props: Mapping[str, Any] = old.get("properties", {})
        new_props: Mapping[str, Any] = new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name in old_props:
            if name not in new_props:
                found.append(f"{path}.{name}: removed (or renamed)")
                continue
            found += self.schema(old_props[name], new_props[name], f"{path}.{name}")
            if name in new_required and name not in old_required:
                found.append(f"{path}.{name}: optional became required")
            if self.published and name in old_required and name not in new_required:
                found.append(f"{path}.{name}: required became optional (subscribers rely on it)")
        for name in new_props:
            if name not in old_props and name in new_required:
                found.append(f"{path}.{name}: a new required field")
        if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
            found.append(f"{path}: additionalProperties closed (narrowed)")
        return found


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 32:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are followed, not {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _arms(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The schema's alternatives by JSON type ("any" for an unconstrained schema)."""
    schema = _resolve(schema, root)
    union = schema.get("anyOf") or schema.get("oneOf")
    if union:
        arms: dict[str, Mapping[str, Any]] = {}
        for arm in union:
            arms.update(_arms(arm, root))
        return arms
    kinds = schema.get("type")
    if kinds is None:
        if "const" in schema or "enum" in schema:
            values = schema.get("enum", [schema.get("const")])
            kinds = sorted({_json_type(v) for v in values})
        elif "properties" in schema:
            kinds = "object"
        else:
            return {ANY: schema}
    if isinstance(kinds, str):
        kinds = [kinds]
    return {str(kind): schema for kind in kinds}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _values(schema: Mapping[str, Any]) -> set[Any] | None:
    if "const" in schema:
        return {json.dumps(schema["const"])}
    if "enum" in schema:
        return {json.dumps(v) for v in schema["enum"]}
    return None


# --- the released artifacts -----------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def release(
    registry: Iterable[Contract[Any]] = contracts.CONTRACTS,
    folder: Path = RELEASED,
    today: date | None = None,
) -> list[Path]:
    """Write the artifact of each version not released yet; an existing one is never rewritten."""
    written: list[Path] = []
    folder.mkdir(parents=True, exist_ok=True)
    for contract in registry:
        path = artifact_path(contract.topic, folder)
        if path.exists():
            continue
        body = {"released": (today or date.today()).isoformat(), **artifact(contract)}
        path.write_text(
            json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        written.append(path)
    return written


def check(registry: Iterable[Contract[Any]] = contracts.CONTRACTS, folder: Path = RELEASED) -> list[str]:
    """Every problem with the registry against the released artifacts (empty: all compatible)."""
    problems: list[str] = []
    by_topic = {c.topic: c for c in registry}
    for contract in by_topic.values():
        path = artifact_path(contract.topic, folder)
        if not path.exists():
            problems.append(
                f"{contract.topic}: not released yet (run `make release-contracts`, commit the file)"
            )
            continue
        problems += [f"{contract.topic}: {b}" for b in breaking_changes(load(path), artifact(contract))]
    for path in sorted(folder.glob("*.json")):
        topic = path.name.removesuffix(".json")
        if topic not in by_topic:
            problems.append(
                f"{topic}: released, but no longer in shared/contracts.py; a version is removed only"
                " after its deprecation period (Contract.deprecation), then its artifact moves to"
                " docs/contracts/retired/"
            )
    return problems


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "release":
        for path in release():
            print(f"released {path.relative_to(ROOT)}")
        return 0
    if command == "check":
        problems = check()
        for problem in problems:
            print(f"breaking: {problem}", file=sys.stderr)
        if not problems:
            print(f"compatible: {len(contracts.CONTRACTS)} event versions match their released schemas")
        return 1 if problems else 0
    print("usage: python -m shared.compatibility check|release", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
