"""Helpers shared by the files that describe many runs (sweep and calibration files).

Such a file is TOML; it names a base scenario (relative to itself), fixed ``[set]`` overrides and the
parameters it varies by dotted config keys. Problems are reported like scenario problems
(:class:`simulation.scenario.Problem`): the file, the dotted key, the value and the rule, with "did
you mean" for misspelled keys, all at once.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from simulation.scenario import MISSING, Problem, ScenarioError, read_text_file, shown_path


def read_toml(path: str | Path, what: str) -> tuple[dict[str, Any], str]:
    """The parsed file and the name problems give it; ScenarioError if it is missing or not TOML.

    Args:
        what: the key a missing file is reported under ("sweep", "calibration").
    """
    p = Path(path)
    src = shown_path(p.resolve()) if p.exists() else str(path)
    try:
        return tomllib.loads(read_text_file(p)), src
    except (FileNotFoundError, IsADirectoryError):
        raise ScenarioError([Problem(str(path), what, MISSING, "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:  # before ValueError, of which it is a kind
        raise ScenarioError([Problem(src, "toml", MISSING, f"TOML syntax error: {exc}")]) from None
    except ValueError as exc:
        raise ScenarioError([Problem(src, what, MISSING, str(exc))]) from None


def base_scenario(path: str | Path, base: str, src: str, problems: list[Problem]) -> Path:
    """The base scenario a file names (relative to the file); a problem is added if it does not exist."""
    resolved = (Path(path).resolve().parent / base).resolve()
    if not resolved.exists():
        problems.append(Problem(src, "base", base, f"scenario file not found ({shown_path(resolved)})"))
    elif not resolved.is_file():
        problems.append(Problem(src, "base", base, f"not a regular file ({shown_path(resolved)})"))
    return resolved


def flatten(table: dict[str, Any], prefix: str = "", is_leaf=lambda v: not isinstance(v, dict)) -> dict[str, Any]:
    """Nested TOML tables to dotted keys: ``{"choice": {"beta": x}}`` and ``{"choice.beta": x}`` both give choice.beta."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if is_leaf(v) or (isinstance(v, dict) and not v):
            out[key] = v
        else:
            out.update(flatten(v, key + ".", is_leaf))
    return out


def schema_problems(exc: ValidationError, src: str, root: type[BaseModel],
                    literal_rules: dict[str, str] | None = None) -> list[Problem]:
    """Pydantic errors of a file's schema as problems, with did-you-mean for unknown keys.

    Args:
        root: the schema of the whole file (to find the keys beside an unknown one).
        literal_rules: rule text per field name for values outside a fixed list.
    """
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(x) for x in loc) or "(root)"
        rule = err["msg"]
        value = err.get("input", MISSING)
        if err["type"] == "extra_forbidden":
            names = _fields_beside(root, loc)
            near = difflib.get_close_matches(str(loc[-1]), names, n=1)
            rule = "unknown key" + (f"; did you mean '{near[0]}'?" if near else "")
        elif err["type"] == "missing":
            value, rule = MISSING, "required"
        elif err["type"] == "finite_number":
            rule = "must be a finite number (NaN and infinity are not allowed)"
        elif err["type"] == "value_error":
            rule = str(err.get("ctx", {}).get("error", rule))
        elif err["type"] == "literal_error" and literal_rules:
            rule = next((text for name, text in literal_rules.items() if name in map(str, loc)), rule)
        out.append(Problem(src, key, value, rule))
    return out


def _fields_beside(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names (or aliases) of the model that holds the last part of an error location."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an index into a list of tables
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        ann = getattr(field, "annotation", None)
        inner = next((a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else inner
        if model is None:
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def relabel(p: Problem, src: str, overrides: dict[str, Any], section: str, steps_given: bool = False) -> Problem:
    """A load_scenario problem caused by the file, relabelled with the file and its table (``section``)."""
    if p.source not in ("--set", "(run folder)"):
        return p  # a problem inside the base scenario file itself
    if p.key == "run.steps" and steps_given:
        return Problem(src, "steps", p.value, p.rule)
    ours = any(k == p.key or k.startswith(p.key + ".") or p.key.startswith(k + ".") for k in overrides)
    return Problem(src, section + p.key if ours else p.key, p.value, p.rule)


def unknown_parameter(cfg: BaseModel, key: str, src: str) -> Problem | None:
    """A problem if ``key`` is not a parameter of the config, with did-you-mean at the first wrong part."""
    node: Any = cfg
    parts = key.split(".")
    for depth, part in enumerate(parts):
        names = list(node) if isinstance(node, dict) else list(type(node).model_fields) if isinstance(node, BaseModel) else []
        if part not in names:
            near = difflib.get_close_matches(part, names, n=1)
            fix = ".".join([*parts[:depth], near[0], *parts[depth + 1:]]) if near else ""
            return Problem(src, f"parameters.{key}", MISSING, "unknown parameter" + (f"; did you mean '{fix}'?" if fix else ""))
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return None
