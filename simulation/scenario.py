"""Scenario files: TOML overrides of the config schema, with ``extends`` chains and ``--set`` overrides.

Every problem is collected and reported at once as a :class:`ScenarioError`, one line each: the file,
the dotted key, the value received and the rule it broke, with "did you mean" for misspelled keys.
``--set`` values are parsed as TOML literals, never evaluated.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from simulation.config import EVENT_TYPES, Config, EventAction, RegionConfig, ServiceConfig
from simulation.config import UnknownParameter, apply_action, get_value

META_KEYS = {"extends"}


@dataclass(frozen=True)
class Problem:
    source: str
    key: str
    value: Any
    rule: str

    def __str__(self) -> str:
        value = repr(self.value)
        value = value if len(value) <= 80 else f"{value[:60]}... ({len(value)} characters)"
        shown = "" if self.value is MISSING else f" = {value}"
        return f"{self.source}: {self.key}{shown}: {self.rule}"


MISSING = object()  # a problem about a key that has no value (a missing file, a required key)


class ScenarioError(ValueError):
    """One or more problems in a scenario file or override; ``str()`` has one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # an unquoted word --set reads as a string, e.g. kind=bpo


def parse_override(text: str, source: str = "--set") -> tuple[str, Any]:
    """Parse ``dotted.key=value`` with the value read as a TOML literal (bare words become strings)."""
    if "=" not in text:
        raise ScenarioError([Problem(source, text, MISSING, "expected dotted.key=value")])
    key, raw = (x.strip() for x in text.split("=", 1))
    if not key:
        raise ScenarioError([Problem(source, text, MISSING, "missing key before '='")])
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if not BARE_WORD.fullmatch(raw):
            raise ScenarioError([Problem(source, key, raw, "not a TOML value (quote text: key=\"...\")")]) from None
        value = raw  # a bare word such as bpo: treat as a string and let the schema judge it
    if isinstance(value, dict):
        raise ScenarioError([Problem(source, key, raw, f"a table would replace all of {key}; set its keys one by one "
                                                       f"({key}.<name>=value)")])
    return key, value


MAX_FILE_BYTES = 1_000_000  # the largest scenario, sweep or calibration file read (the baseline is 12 kB)


def read_text_file(path: Path) -> str:
    """The text of a small regular UTF-8 file: never a device, pipe or folder, never more than
    :data:`MAX_FILE_BYTES`, so a wrong path cannot make outsim read forever.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: it is not a regular file, is too large or is not UTF-8 text (the message says which).
    """
    if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: opening a pipe would wait for a writer
        raise ValueError("not a regular file")
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)  # a file that grows meanwhile is still read only this far
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES:,} bytes; scenario files are small text files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def _read_toml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError([Problem(shown_path(chain[-1]), "extends", path.name, f"cyclic extends ({cycle})")])
    try:
        text = read_text_file(path)
    except (FileNotFoundError, IsADirectoryError, ValueError) as exc:
        rule = str(exc) if isinstance(exc, ValueError) else "file not found"
        if chain:
            raise ScenarioError([Problem(shown_path(chain[-1]), "extends", shown_path(path), rule)]) from None
        raise ScenarioError([Problem(shown_path(path), "scenario", MISSING, rule)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([Problem(shown_path(path), "toml", MISSING, f"TOML syntax error: {exc}")]) from None
    parent = data.pop("extends", None)
    if not chain:
        data.setdefault("name", path.stem)  # a scenario is named after its own file unless it says otherwise
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError([Problem(shown_path(path), "extends", parent, "must be a file path string")])
    base = _read_toml((path.parent / parent).resolve(), (*chain, path))
    return deep_merge(base, data)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; everything else (including event lists) is replaced by ``top``."""
    out = dict(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            node[p] = nxt
        node = nxt
    node[parts[-1]] = value


def _known_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Pydantic model that holds the last key of an error location (for did-you-mean)."""
    model: type[BaseModel] = Config
    i = 0
    while i < len(loc) - 1:
        part = loc[i]
        if part == "services" and model is Config:
            model, i = ServiceConfig, i + 2
            continue
        if part == "regions" and model is Config:
            model, i = RegionConfig, i + 2
            continue
        if part == "events" and model is Config:
            model, i = EVENT_TYPES[str(loc[i + 2])], i + 3  # (events, index, event type tag, ...)
            continue
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model, i = ann, i + 1
    return model


MOVED_TO_EVENTS = {
    "providers.price_hike_week": "price hikes are events now: [[events]] at = WEEK, action = \"price_hike\", "
                                 "providers = N, rise = SHARE",
    "providers.failure_week": "provider failures are events now: [[events]] at = WEEK, action = \"provider_failure\", "
                              "providers = N",
}
MOVED_TO_EVENTS["providers.price_hike"] = MOVED_TO_EVENTS["providers.price_hike_count"] = MOVED_TO_EVENTS["providers.price_hike_week"]
MOVED_TO_EVENTS["providers.failure_count"] = MOVED_TO_EVENTS["providers.failure_week"]
ACTIONS = ", ".join(a.value for a in EventAction)


def _event_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """An error location without the event type tag pydantic puts after ``events.<i>``."""
    if len(loc) > 2 and loc[0] == "events" and str(loc[2]) in EVENT_TYPES:
        return loc[:2] + loc[3:]
    return loc


def problems_from(exc: ValidationError, source: str, sources: dict[str, str]) -> list[Problem]:
    out = []
    errors = exc.errors()
    # An event with an unknown action is checked as a parameter event; its other keys say nothing more.
    unknown_action = {err["loc"][1] for err in errors if err["type"] == "literal_error"
                      and err["loc"][:1] == ("events",) and err["loc"][-1] == "action"}
    for err in errors:
        loc = tuple(err["loc"])
        if loc[:1] == ("events",) and len(loc) > 1 and loc[1] in unknown_action and loc[-1] != "action":
            continue
        key = ".".join(str(p) for p in _event_loc(loc)) or "(root)"
        src = sources.get(key) or next((v for k, v in sources.items()  # a key above or below one overridden
                                        if k.startswith(key + ".") or key.startswith(k + ".")), source)
        rule = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = _section_model(loc)
            near = difflib.get_close_matches(str(loc[-1]), _known_keys(model), n=1) if model else []
            rule = MOVED_TO_EVENTS.get(key) or "unknown key" + (f"; did you mean '{near[0]}'?" if near else "")
        elif err["type"] in ("finite_number",):
            rule = "must be a finite number (NaN and infinity are not allowed)"
        elif err["type"] == "literal_error" and loc[:1] == ("events",) and loc[-1] == "action":
            near = difflib.get_close_matches(str(err.get("input")), [a.value for a in EventAction], n=1)
            rule = f"unknown action; expected one of {ACTIONS}" + (f"; did you mean '{near[0]}'?" if near else "")
        value = err.get("input", MISSING) if err["type"] != "missing" else MISSING
        if not loc and err["type"] == "value_error":  # a whole-config rule: its message names the key
            key, _, rule = str(err["ctx"]["error"]).partition(": ")
            src = sources.get(key, source)
            value = _lookup(value, key)
        out.append(Problem(src, key, value, rule))
    return out


def _lookup(data: Any, dotted: str) -> Any:
    """The raw value at a dotted key of scenario data, or MISSING."""
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return MISSING
        data = data[part]
    return data


def shown_path(path: Path) -> str:
    """A path as a user would write it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_scenario(path: str | Path | None = None, overrides: dict[str, Any] | list[str] | None = None,
                  base: Config | None = None) -> Config:
    """Load a scenario file (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: a TOML scenario file; it may ``extends = "other.toml"`` (relative to itself).
        overrides: ``{"firms.count": 500}`` or ``["firms.count=500"]`` (the CLI's ``--set``).
        base: start from this resolved config instead of the defaults (``path`` must be None).

    Raises:
        ScenarioError: with every problem found, one per line.
    """
    data: dict[str, Any] = base.model_dump(mode="json") if base is not None else {}
    source = "(defaults)" if base is None else "(run folder)"
    if path is not None:
        if not Path(path).exists():
            raise ScenarioError([Problem(str(path), "scenario", MISSING, "file not found")])
        p = Path(path).resolve()
        source = str(path)
        data = _read_toml(p)
    sources: dict[str, str] = {}
    problems: list[Problem] = []
    items = overrides.items() if isinstance(overrides, dict) else []
    if isinstance(overrides, list):
        parsed = []
        for text in overrides:
            try:
                parsed.append(parse_override(text))
            except ScenarioError as exc:
                problems.extend(exc.problems)
        items = parsed
    for key, value in items:
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem("--set", key, value, "must be a finite number (NaN and infinity are not allowed)"))
            continue
        _set_dotted(data, key, value)
        sources[key] = "--set"
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, source, sources))
        problems.extend(_check_events(_reference(data), data.get("events"), source))
        raise ScenarioError(problems) from None
    problems.extend(_check_events(cfg, cfg.model_dump(mode="json")["events"], source))
    if problems:
        raise ScenarioError(problems)
    return cfg


def _reference(data: dict[str, Any]) -> Config:
    """Best available config to check event targets against when the scenario itself did not validate."""
    try:
        return Config.model_validate({k: data[k] for k in ("services", "regions", "run") if k in data})
    except ValidationError:
        return Config()


def _check_events(cfg: Config, events: Any, source: str) -> list[Problem]:
    """Event weeks must lie inside the horizon; parameter events must aim at numeric parameters, and
    brokers may enter but not leave."""
    out = []
    for i, ev in enumerate(events if isinstance(events, list) else []):
        if not isinstance(ev, dict):
            continue  # reported by the schema
        at = ev.get("at", 0)
        if isinstance(at, int) and at > cfg.run.steps:
            out.append(Problem(source, f"events.{i}.at", at, f"after the horizon (run.steps = {cfg.run.steps})"))
        if str(ev.get("action", EventAction.SET)) not in (EventAction.SET, EventAction.MULTIPLY, EventAction.ADD):
            continue
        out.extend(_check_parameter_event(cfg, ev, i, source))
    return out


def _check_parameter_event(cfg: Config, ev: dict[str, Any], i: int, source: str) -> list[Problem]:
    target = ev.get("target")
    if not isinstance(target, str):
        return []  # a missing or mistyped target is reported by the schema
    try:
        value = get_value(cfg, target)
    except UnknownParameter:
        leaf = target.rsplit(".", 1)[-1]
        near = difflib.get_close_matches(leaf, _neighbours(cfg, target), n=1)
        rule = "unknown parameter" + (f"; did you mean '{target.rsplit('.', 1)[0]}.{near[0]}'?" if near else "")
        return [Problem(source, f"events.{i}.target", target, rule)]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [Problem(source, f"events.{i}.target", target, "events can only change numeric parameters")]
    new = ev.get("value")
    if target == "intermediaries.count" and isinstance(new, (int, float)) and \
            apply_action(str(ev.get("action", "set")), value, new) < value:
        return [Problem(source, f"events.{i}.value", new, "brokers can enter mid-run but not leave")]
    return []


def _neighbours(cfg: Config, dotted: str) -> list[str]:
    """Field names beside the last part of a dotted key, for did-you-mean."""
    parent = dotted.rsplit(".", 1)[0] if "." in dotted else ""
    try:
        node = get_value(cfg, parent) if parent else cfg
    except UnknownParameter:
        return []
    if isinstance(node, dict):
        return list(node)
    return list(type(node).model_fields) if hasattr(type(node), "model_fields") else []


@dataclass(frozen=True)
class ScenarioInfo:
    """One line of ``outsim scenarios``."""

    path: str
    name: str
    description: str
    tags: tuple[str, ...]
    valid: bool


def list_scenarios(folder: str | Path) -> list[ScenarioInfo]:
    """Every scenario file under ``folder`` (recursively), with its description and tags, sorted by path."""
    root = Path(folder)
    out = []
    for path in sorted(root.rglob("*.toml")):
        if {"sweeps", "calibration", "strategies"} & set(path.relative_to(root).parts):
            continue  # sweep, calibration and strategy files describe many runs, not one scenario
        try:
            cfg = load_scenario(path)
            out.append(ScenarioInfo(str(path), cfg.name, cfg.description, tuple(cfg.tags), True))
        except ScenarioError:
            out.append(ScenarioInfo(str(path), path.stem, "", (), False))
    return out
