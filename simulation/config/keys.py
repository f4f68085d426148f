"""Dotted keys into a config: ``regions.offshore.wage_per_hour`` names one parameter; every key with its unit.

Scenario events, ``--set`` overrides, sweeps and the dashboard all address parameters this way; these
helpers are the one implementation of reading, writing and changing a parameter by its dotted key.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from simulation.config.schema import EVENT_TYPES, Config, EventAction, RegionConfig, ServiceConfig


class UnknownParameter(KeyError):
    """An event or override aimed at a key that the config does not have."""


def resolve(cfg: BaseModel, dotted: str) -> tuple[Any, str]:
    """Return (container, last key) for a dotted key in a config; raises UnknownParameter."""
    parts = dotted.split(".")
    node: Any = cfg
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
        else:
            raise UnknownParameter(dotted)
    last = parts[-1]
    if isinstance(node, dict):
        if last not in node:
            raise UnknownParameter(dotted)
    elif not (isinstance(node, BaseModel) and last in type(node).model_fields):
        raise UnknownParameter(dotted)
    return node, last


def get_value(cfg: BaseModel, dotted: str) -> Any:
    node, key = resolve(cfg, dotted)
    return node[key] if isinstance(node, dict) else getattr(node, key)


def set_value(cfg: BaseModel, dotted: str, value: Any) -> None:
    """Assign with validation (sections use validate_assignment), casting to int where the field is int."""
    node, key = resolve(cfg, dotted)
    current = node[key] if isinstance(node, dict) else getattr(node, key)
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        raise TypeError(f"{dotted} is not a numeric parameter")
    if isinstance(current, int):
        value = int(round(value))
    setattr(node, key, value)


def apply_action(action: str, current: float, value: float) -> float:
    """The value a set, multiply or add event leads to from ``current``."""
    if action == EventAction.SET:
        return value
    if action == EventAction.MULTIPLY:
        return current * value
    return current + value


def parameter_units() -> dict[str, str]:
    """Dotted key -> unit for every scalar parameter of the schema (for docs and reports)."""
    out: dict[str, str] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
            elif isinstance(field.json_schema_extra, dict) and "unit" in field.json_schema_extra:
                out[f"{prefix}{name}"] = str(field.json_schema_extra["unit"])

    walk(Config, "")
    walk(ServiceConfig, "services.<name>.")
    walk(RegionConfig, "regions.<name>.")
    for event_type in EVENT_TYPES.values():
        walk(event_type, "events[].")
    return out
