"""Unit tests for simulation/scenario.py and simulation/config.py: loading, overrides, validation messages and the schema."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from simulation.config import (Config, ParameterEvent, PriceHikeEvent, ProviderFailureEvent, RegionConfig, ServiceConfig,
                               parameter_units)
from simulation.model.environment import Environment
from simulation.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
WKH = ROOT / "scenarios" / "validation" / "wkh.toml"
DEFAULT_SERVICES = {"customer_service", "back_office", "components", "data_analysis", "research", "risk_analysis"}


def write(path: Path, text: str) -> Path:
    """Write a TOML file (creating folders) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(*args, **kwargs) -> ScenarioError:
    """The ScenarioError raised by load_scenario(*args, **kwargs) (fails the test if none is raised)."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------ loading

def test_no_path_gives_defaults():
    """load_scenario(None) returns exactly the schema defaults."""
    assert load_scenario(None) == Config()
    assert load_scenario() == Config()


def test_baseline_loads():
    """The shipped baseline scenario loads with its documented market size."""
    cfg = load_scenario(BASELINE)
    assert cfg.name == "baseline"
    assert (cfg.firms.count, cfg.providers.bpo_count, cfg.providers.kpo_count, cfg.intermediaries.count) == (1000, 100, 40, 3)
    assert cfg.run.steps == 520
    assert set(cfg.services) == DEFAULT_SERVICES


def test_wkh_loads():
    """The shipped WKH validation scenario loads: one service, three providers, permanent and in-house work off."""
    cfg = load_scenario(WKH)
    assert cfg.name == "wkh"
    assert set(cfg.services) == {"task"}
    assert cfg.providers.bpo_count == 3 and cfg.providers.kpo_count == 0
    assert not cfg.contracts.allow_permanent and not cfg.contracts.allow_in_house
    assert cfg.regions["domestic"].wage_per_hour == 10.0


def test_name_defaults_to_file_stem(tmp_path):
    """A scenario file without a name is named after its file."""
    assert load_scenario(write(tmp_path / "my_case.toml", "[firms]\ncount = 5\n")).name == "my_case"


# ------------------------------------------------------------------ overrides

def test_dict_overrides():
    """Dotted-key overrides given as a dict reach the right fields."""
    cfg = load_scenario(BASELINE, {"firms.count": 500, "choice.beta": 2.5, "regions.offshore.wage_per_hour": 9.0})
    assert cfg.firms.count == 500 and cfg.choice.beta == 2.5 and cfg.regions["offshore"].wage_per_hour == 9.0


def test_string_overrides():
    """--set style 'a.b=value' strings are parsed as TOML literals (ints, floats, booleans, bare-word strings)."""
    cfg = load_scenario(BASELINE, ["firms.count=1", "choice.beta = 0.25", "contracts.allow_permanent=false", "name=probe"])
    assert cfg.firms.count == 1 and cfg.choice.beta == 0.25
    assert cfg.contracts.allow_permanent is False and cfg.name == "probe"


def test_string_override_is_never_evaluated():
    """A --set value that is an expression is never evaluated as code: unquoted it is refused (not a TOML value),
    quoted it stays a literal string."""
    with pytest.raises(ScenarioError, match="not a TOML value"):
        load_scenario(None, ["description=__import__('os').getcwd()"])
    cfg = load_scenario(None, ["description=\"__import__('os').getcwd()\""])
    assert cfg.description == "__import__('os').getcwd()"


def test_override_beats_file(tmp_path):
    """An override wins over the scenario file, which wins over the defaults."""
    path = write(tmp_path / "s.toml", "[firms]\ncount = 50\nreview_interval_weeks = 4\n")
    cfg = load_scenario(path, {"firms.count": 60})
    assert cfg.firms.count == 60 and cfg.firms.review_interval_weeks == 4 and cfg.firms.size_log_sd == 0.9


# ------------------------------------------------------------------ validation messages

@pytest.mark.parametrize("overrides", [{"firms.cuont": 5}, ["firms.cuont=5"]])
def test_misspelled_key_suggests_the_right_one(overrides):
    """A misspelled key is rejected with the key and a 'did you mean' suggestion in the message."""
    msg = str(error_of(BASELINE, overrides))
    assert "firms.cuont" in msg
    assert "did you mean 'count'" in msg


def test_misspelled_key_in_file_names_the_file(tmp_path):
    """A misspelled key inside a scenario file is reported with that file and the nearest valid key."""
    path = write(tmp_path / "typo.toml", "[regions.offshore]\nwage_per_hr = 3.0\n")
    err = error_of(path)
    assert str(path) in str(err)
    assert "regions.offshore.wage_per_hr" in str(err) and "did you mean 'wage_per_hour'" in str(err)


def test_misspelled_section_in_override_is_attributed_to_set():
    """A misspelled section given with --set is reported as coming from --set (regression: it said '(defaults)' or the file)."""
    err = error_of(BASELINE, ["firm.count=5"])
    assert [p.source for p in err.problems] == ["--set"]


@pytest.mark.parametrize("overrides, key", [
    ({"firms.count": "many"}, "firms.count"),          # wrong type
    (["choice.beta=fast"], "choice.beta"),             # wrong type via --set (bare word becomes a string)
    ({"firms.count": 1.5}, "firms.count"),             # a fraction for an integer
    (["firms.count=-3"], "firms.count"),               # negative count
    ({"providers.offshore_share": 1.5}, "providers.offshore_share"),  # a share above 1
    (["firms.demand_volatility=nan"], "firms.demand_volatility"),     # NaN
    (["firms.demand_volatility=inf"], "firms.demand_volatility"),     # infinity
])
def test_invalid_values_give_clean_errors(overrides, key):
    """Wrong types, negative counts, shares above 1 and non-finite numbers raise a ScenarioError naming the key."""
    err = error_of(BASELINE, overrides)
    assert isinstance(err, ValueError)
    assert len(err.problems) == 1
    assert key in str(err) and "--set" in str(err)


def test_nan_message_says_finite():
    """A NaN override is explained as 'must be a finite number'."""
    assert "finite" in str(error_of(None, ["firms.demand_volatility=nan"]))


def test_nan_in_file_is_rejected(tmp_path):
    """A NaN written in the TOML file itself is rejected with the file and the key."""
    path = write(tmp_path / "n.toml", "[firms]\ndemand_volatility = nan\n")
    msg = str(error_of(path))
    assert str(path) in msg and "firms.demand_volatility" in msg and "finite" in msg


def test_all_problems_reported_at_once():
    """Several bad overrides are reported together, one line each."""
    err = error_of(None, ["firms.cuont=2", "providers.offshore_share=2", "firms.count=0"])
    assert len(err.problems) == 3
    assert len(str(err).splitlines()) == 3


def test_override_without_equals_is_reported():
    """A --set string without '=' is reported rather than ignored."""
    assert "expected dotted.key=value" in str(error_of(None, ["firms.count"]))


# ------------------------------------------------------------------ extends

def test_extends_chain(tmp_path):
    """A three-level extends chain merges table by table, nearest file winning, with relative paths resolved per file."""
    write(tmp_path / "grand.toml", "[firms]\ncount = 10\nsize_log_sd = 0.5\n[choice]\nbeta = 3.0\n")
    write(tmp_path / "lib" / "parent.toml", 'extends = "../grand.toml"\n[firms]\ncount = 20\n')
    child = write(tmp_path / "child.toml", 'extends = "lib/parent.toml"\n[choice]\ngamma = 0.2\n')
    cfg = load_scenario(child)
    assert cfg.firms.count == 20            # parent beats grandparent
    assert cfg.firms.size_log_sd == 0.5     # grandparent kept where nobody overrides
    assert cfg.choice.beta == 3.0 and cfg.choice.gamma == 0.2
    assert cfg.firms.review_interval_weeks == 13  # untouched default


def test_extends_shipped_baseline(tmp_path):
    """A scenario may extend the shipped baseline (absolute path here, as tmp_path lies outside the repo) and change a few keys."""
    child = write(tmp_path / "what_if.toml", f'extends = "{BASELINE.as_posix()}"\n[firms]\ncount = 7\n')
    cfg = load_scenario(child)
    assert cfg.firms.count == 7 and cfg.providers.bpo_count == 100 and cfg.intermediaries.count == 3


def test_cyclic_extends_is_reported(tmp_path):
    """a.toml -> b.toml -> a.toml is reported as a cyclic extends, not a recursion error."""
    write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    msg = str(error_of(tmp_path / "a.toml"))
    assert "cyclic extends" in msg and "a.toml" in msg and "b.toml" in msg


def test_self_extends_is_reported(tmp_path):
    """A file that extends itself is a cycle too."""
    path = write(tmp_path / "self.toml", 'extends = "self.toml"\n')
    assert "cyclic extends" in str(error_of(path))


def test_missing_extends_target_is_reported(tmp_path):
    """A missing parent file is reported with the file that names it and the missing path."""
    child = write(tmp_path / "child.toml", 'extends = "nowhere.toml"\n')
    err = error_of(child)
    assert len(err.problems) == 1
    p = err.problems[0]
    assert p.source == str(child.resolve()) and p.key == "extends"
    assert "nowhere.toml" in str(err) and "not found" in str(err)


def test_missing_scenario_file_is_reported(tmp_path):
    """A scenario path that does not exist raises ScenarioError naming it."""
    missing = tmp_path / "absent.toml"
    assert "absent.toml" in str(error_of(missing)) and "not found" in str(error_of(missing))


def test_toml_syntax_error_names_the_file(tmp_path):
    """A TOML syntax error is reported with the file it is in (also when that file is a parent)."""
    broken = write(tmp_path / "broken.toml", "[firms\ncount = 3\n")
    msg = str(error_of(broken))
    assert str(broken) in msg and "TOML syntax error" in msg
    child = write(tmp_path / "child.toml", 'extends = "broken.toml"\n')
    msg = str(error_of(child))
    assert "broken.toml" in msg and "TOML syntax error" in msg


def test_extends_must_be_a_string(tmp_path):
    """A non-string extends value is reported."""
    path = write(tmp_path / "x.toml", "extends = 3\n")
    assert "extends" in str(error_of(path))


# ------------------------------------------------------------------ events

def test_event_with_unknown_target_is_reported():
    """An event aimed at a parameter that does not exist is reported with its index."""
    err = error_of(None, {"events": [{"at": 3, "target": "environment.demand_multiplyer", "value": 0.9}]})
    assert "events.0.target" in str(err) and "unknown parameter" in str(err)


def test_event_on_non_numeric_target_is_reported():
    """An event on a non-numeric parameter (a boolean) is reported."""
    err = error_of(None, {"events": [{"at": 3, "target": "contracts.allow_permanent", "value": 0.0}]})
    assert "events.0.target" in str(err) and "numeric" in str(err)


def test_event_after_horizon_is_reported():
    """An event scheduled after run.steps is reported with the horizon."""
    err = error_of(None, {"run.steps": 52, "events": [{"at": 53, "target": "environment.demand_multiplier", "value": 0.9}]})
    assert "events.0.at" in str(err) and "run.steps = 52" in str(err)


def test_event_in_last_week_is_accepted():
    """An event at exactly run.steps (the last simulated week) is valid."""
    cfg = load_scenario(None, {"run.steps": 52, "events": [{"at": 52, "target": "environment.demand_multiplier", "value": 0.9}]})
    assert cfg.events[0].at == 52


def test_events_in_file(tmp_path):
    """Events given as [[events]] tables in a file are validated like any other (bad ones reported with the file)."""
    path = write(tmp_path / "ev.toml", '[run]\nsteps = 10\n'
                                       '[[events]]\nat = 5\ntarget = "regions.offshore.exchange_rate"\naction = "multiply"\nvalue = 1.2\n'
                                       '[[events]]\nat = 4\ntarget = "firms.nope"\n'
                                       '[[events]]\nat = 11\ntarget = "firms.demand_volatility"\n')
    err = error_of(path)
    assert all(p.source == str(path) for p in err.problems)
    assert {p.key for p in err.problems} == {"events.1.target", "events.2.at"}


def test_event_at_week_zero_is_not_silently_dropped():
    """An event at week 0 (the schema default) loads and is applied from the first week (regression: it never fired)."""
    cfg = load_scenario(None, {"run.steps": 3, "events": [{"at": 0, "target": "environment.demand_multiplier",
                                                            "action": "set", "value": 2.0}]})
    env = Environment(cfg)
    for _ in range(cfg.run.steps):
        env.advance()
    assert cfg.environment.demand_multiplier == 2.0


def test_ramped_event_at_week_zero_ramps_like_any_other():
    """A ramped event at week 0 spreads its change over ramp_weeks equal steps, exactly like the same event at week 1."""
    def applied(at: int) -> list[float]:
        """The live demand multiplier after each of 8 weeks."""
        cfg = load_scenario(None, {"run.steps": 8, "events": [{"at": at, "target": "environment.demand_multiplier",
                                                                "action": "set", "value": 2.0, "ramp_weeks": 4}]})
        env = Environment(cfg)
        values = []
        for _ in range(cfg.run.steps):
            env.advance()
            values.append(env.cfg.environment.demand_multiplier)
        return values

    # quarters of 1.0 -> 2.0 are exact in binary floating point; then the value stays at its end point
    assert applied(1) == [1.25, 1.5, 1.75, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert applied(0) == applied(1)


# ------------------------------------------------------------------ partial tables

def test_partial_region_table_keeps_other_defaults(tmp_path):
    """A [regions.offshore] table with one key leaves every other offshore (and domestic) default in place."""
    path = write(tmp_path / "r.toml", "[regions.offshore]\ncoordination_cost_per_hour = 3.0\n")
    cfg = load_scenario(path)
    off = cfg.regions["offshore"]
    assert off.wage_per_hour == 7.0
    assert off.model_dump() == {**Config().regions["offshore"].model_dump(), "coordination_cost_per_hour": 3.0}
    assert cfg.regions["domestic"] == Config().regions["domestic"]


def test_wkh_partial_offshore_keeps_wage():
    """The shipped WKH file sets only offshore wage growth, so the offshore wage stays at its default 7.0."""
    off = load_scenario(WKH).regions["offshore"]
    assert off.wage_per_hour == 7.0
    assert off.model_dump() == {**Config().regions["offshore"].model_dump(), "wage_growth_per_year": 0.0}


def test_new_services_replace_catalogue(tmp_path):
    """A services table that names only new services replaces the default catalogue."""
    path = write(tmp_path / "s.toml", '[services.audit]\nkind = "kpo"\nskill_level = 4\n[services.payroll]\nkind = "bpo"\n')
    cfg = load_scenario(path)
    assert set(cfg.services) == {"audit", "payroll"}
    assert cfg.services["payroll"].inhouse_cost_per_hour == ServiceConfig().inhouse_cost_per_hour


def test_default_service_table_overrides_fields_only(tmp_path):
    """A services table naming a default service changes just the given field and keeps the rest of the catalogue."""
    path = write(tmp_path / "s.toml", "[services.research]\nlearning_strength = 0.5\n")
    cfg = load_scenario(path)
    assert set(cfg.services) == DEFAULT_SERVICES
    assert cfg.services["research"].learning_strength == 0.5
    assert cfg.services["research"].skill_level == 4 and cfg.services["research"].kind == "kpo"


# ------------------------------------------------------------------ schema documentation

def _models_in(annotation) -> list[type[BaseModel]]:
    """Pydantic models appearing in an annotation, including inside dict[...] and list[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _leaf_fields() -> dict[str, object]:
    """Every parameter (non-section) field reachable from Config, keyed by dotted path."""
    out: dict[str, object] = {}
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], prefix: str) -> None:
        seen.add(model)
        for name, field in model.model_fields.items():
            inner = _models_in(field.annotation)
            if inner:
                for m in inner:
                    walk(m, f"{prefix}{name}.")
            else:
                out[f"{prefix}{name}"] = field

    walk(Config, "")
    assert {ServiceConfig, RegionConfig, ParameterEvent, PriceHikeEvent, ProviderFailureEvent} <= seen  # the walk really reached the nested tables
    return out


def test_every_parameter_has_description_and_unit():
    """Every parameter of the schema, including service, region and event fields, has a description and a unit."""
    fields = _leaf_fields()
    assert len(fields) > 100  # ~115 parameters today: guards against a walk that silently finds nothing
    missing = [k for k, f in fields.items()
               if not (f.description and f.description.strip())
               or not (isinstance(f.json_schema_extra, dict) and str(f.json_schema_extra.get("unit", "")).strip())]
    assert missing == []


def test_container_fields_are_described():
    """The services, regions and events containers each carry a description."""
    for name in ("services", "regions", "events"):
        assert Config.model_fields[name].description


def test_parameter_units_covers_every_parameter():
    """parameter_units() lists a unit for every parameter the recursive walk finds (and nothing else)."""
    walked = {k.replace("services.", "services.<name>.", 1) if k.startswith("services.") else
              k.replace("regions.", "regions.<name>.", 1) if k.startswith("regions.") else
              k.replace("events.", "events[].", 1) if k.startswith("events.") else k
              for k in _leaf_fields()}
    assert walked == set(parameter_units())
