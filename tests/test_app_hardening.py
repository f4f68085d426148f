"""Tests of the dashboard's server side against values no widget would send (simulation/app/controls.py and the
handlers of simulation/app/dashboard.py; the hardening issue).

Anyone can send any value over the page's websocket, so these tests set the widgets' values directly on the
server, as such a message would, rendered with Solara but without a browser: out-of-range market sizes and
speeds, negative, huge and non-ASCII-digit seeds, unknown scenario labels and paths. Nothing may raise, every
number must end in its declared range or be refused with one plain line, and neither a traceback nor a file's
contents may reach anything the page shows.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from conftest import BASELINE, WKH

from simulation import load_scenario
from simulation.app import PARAMS, DashboardModel, Settings, recession_latest, scenario_choices, shipped_scenarios
from simulation.app.controls import (
    SEED,
    UNEXPECTED,
    WEEKS_PER_STEP,
    ControlError,
    Limit,
    checked,
    guarded,
)

solara = pytest.importorskip("solara", reason="the dashboard needs mesa[viz] (solara, altair)")
v = pytest.importorskip("ipyvuetify")
dashboard = pytest.importorskip("simulation.app.dashboard")
panels = pytest.importorskip("simulation.app.panels")

SECRET = "hunter2-do-not-show"
BAD_SEEDS = ["²", "-1", "1e9", "", " ", "٣", "7.5", "0x10", "1" * 5000, "4294967296", -1, 2**40, 1.5e300,
             float("nan"), True, None, [7], {"seed": 7}]
BAD_NUMBERS = [-10**9, 10**9, -1e300, 1e300, float("nan"), float("inf"), "abc", "²", "", None, True, [1], {"x": 1}]
BAD_LABELS = ["/etc/passwd", "/etc/no-such-file", "../x.toml", "../../etc/passwd", "baseline.toml",
              "scenarios/baseline.toml", "sweeps/wkh_beta", "calibration/industry", "nope", "", None, 3, ["baseline"]]


@pytest.fixture
def secret_toml(tmp_path):
    """A TOML file that is not a scenario and holds a password, as in the report."""
    path = tmp_path / "secret.toml"
    path.write_text(f'password = "{SECRET}"\n[database]\nhost = "db.internal"\n')
    return path


@pytest.fixture
def session():
    """The sidebar's state for one page (the baseline at 300 firms, week 0), as the page's reactives."""
    first = Settings.for_scenario(BASELINE)
    return {"model": solara.reactive(DashboardModel(first)), "settings": solara.reactive(first),
            "params": solara.reactive({"settings": first}), "firm": solara.reactive(0)}


def page_text(widget) -> str:
    """Every piece of text the page holds in ``widget`` and below (labels, HTML, messages, values)."""
    seen, parts, todo = set(), [], [widget]
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        for name in w.keys:
            value = getattr(w, name, None)
            items = value if isinstance(value, (list, tuple)) else value.values() if isinstance(value, dict) else [value]
            for item in items:
                if isinstance(item, str):
                    parts.append(item)
                elif hasattr(item, "keys") and hasattr(item, "comm"):
                    todo.append(item)
    return "\n".join(parts)


def problem_lines(rc) -> list[str]:
    """The problem lines the page shows now."""
    return [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
            if w.attributes.get("class") == "outsim-problem"]


def enter(field, text: str) -> None:
    """Type ``text`` into a text field that reports on Enter, and press Enter."""
    field.v_model = text
    field.fire_event("keyup.enter", None)


def assert_nothing_leaks(box, rc) -> None:
    text = page_text(box)
    assert "Traceback" not in text and 'File "' not in text and SECRET not in text and "db.internal" not in text
    assert all("\n" not in line and 0 < len(line) <= 240 for line in problem_lines(rc))


def test_checked_clamps_numbers_to_the_declared_range():
    """Numbers outside a control's range move to its nearest end; whole-number controls get whole numbers."""
    firms = PARAMS[0].limit(1000)
    assert (firms.low, firms.high) == (100, 2000)
    assert checked("Client firms", 100000, firms) == 2000 and checked("Client firms", -5, firms) == 100
    assert checked("Client firms", 1e300, firms) == 2000 and checked("Client firms", " 500 ", firms) == 500
    assert checked("Client firms", 512.4, firms) == 512 and isinstance(checked("x", 512.4, firms), int)
    fee = Limit(0.0, 0.3, whole=False)
    assert checked("Broker fee", 7, fee) == 0.3 and checked("Broker fee", "-0.5", fee) == 0.0
    assert checked("Broker fee", "0.25", fee) == 0.25
    assert checked("Weeks per step", 10**9, WEEKS_PER_STEP) == 26 and checked("Weeks per step", 0, WEEKS_PER_STEP) == 1


@pytest.mark.parametrize("value", BAD_NUMBERS[4:], ids=repr)
def test_checked_refuses_what_is_not_a_number_in_one_line(value):
    """Text that is not ASCII digits, booleans, NaN, infinities and other types are refused with one plain line."""
    with pytest.raises(ControlError) as exc:
        checked("Client firms", value, PARAMS[0].limit(1000))
    message = str(exc.value)
    assert message.startswith("Client firms: ") and "\n" not in message and len(message) < 200


@pytest.mark.parametrize("seed", BAD_SEEDS, ids=lambda s: repr(s)[:20])
def test_bad_seeds_are_refused_and_the_seed_stays(seed):
    """Negative, huge, unicode-digit ("²" passes str.isdigit), exponent and empty seeds are refused in one line."""
    s = Settings.for_scenario(BASELINE).with_value("seed", 7)
    with pytest.raises(ControlError) as exc:
        s.with_value("seed", seed)
    assert str(exc.value).startswith("Seed: ") and "\n" not in str(exc.value) and "0 to 4,294,967,295" in str(exc.value)
    assert s.seed == 7
    assert s.with_value("seed", " 42 ").seed == 42 and s.with_value("seed", SEED.high).seed == 2**32 - 1


def test_every_setting_is_held_to_its_range():
    """Each slider clamps to its declared range (widened to the scenario's own value), the recession week to the
    latest that fits; a switch takes only on or off; names that are not controls are refused."""
    base = load_scenario(BASELINE)
    s = Settings.for_scenario(BASELINE)
    limits = s.limits(base)
    for p in PARAMS:
        lo, hi = limits[p.field].low, limits[p.field].high
        assert lo <= p.min and hi >= p.max
        assert getattr(s.with_value(p.field, 10**9, base), p.field) == hi
        assert getattr(s.with_value(p.field, -10**9, base), p.field) == lo
    assert s.with_value("firms", 100000).firms == 2000
    assert s.with_value("recession_week", 10**6).recession_week == recession_latest(base)
    assert s.with_value("recession_week", -3).recession_week == 1
    for bad in ("true", 1, None):
        with pytest.raises(ControlError, match="is not on or off"):
            s.with_value("recession", bad)
    for name in ("scenario", "__class__", "steps"):
        with pytest.raises(ControlError, match="is not a control"):
            s.with_value(name, "/etc/passwd")


def test_recession_cannot_be_added_to_a_scenario_with_its_own():
    """The switch is greyed out in the recession scenario; the server refuses it there too."""
    s = Settings.for_scenario(BASELINE.parent / "recession.toml")
    with pytest.raises(ControlError, match="own demand events"):
        s.with_value("recession", True)


@pytest.mark.parametrize("label", BAD_LABELS, ids=repr)
def test_picker_takes_only_offered_labels(label):
    """Paths, file names, sweep and calibration files and any other text are refused: only labels load."""
    with pytest.raises(ControlError) as exc:
        Settings.for_label(label)
    assert "is not one of the" in str(exc.value) and "\n" not in str(exc.value)


def test_picker_refuses_a_file_without_reading_it(secret_toml):
    """A non-scenario TOML is refused by its path without being read, the same way as a file that does not exist,
    so the page learns neither its contents nor whether it exists."""
    refusals = {}
    for path in (secret_toml, secret_toml.with_name("missing.toml")):
        with pytest.raises(ControlError) as exc:
            Settings.for_label(str(path))
        refusals[path.name] = str(exc.value).replace(repr(str(path)), "PATH")
    assert len(set(refusals.values())) == 1 and SECRET not in refusals["secret.toml"]


def test_picker_offers_the_shipped_scenarios_and_the_started_one(monkeypatch, tmp_path):
    """The labels are the shipped library's; a scenario `outsim app --scenario` started with is added by name."""
    assert scenario_choices() == shipped_scenarios()
    assert Settings.for_label("validation/wkh").scenario == str(WKH)
    own = tmp_path / "mine.toml"
    own.write_text(f'extends = "{BASELINE}"\nname = "mine"\n')
    monkeypatch.setenv("OUTSIM_APP_SCENARIO", str(own))
    assert scenario_choices()["mine (started with --scenario)"] == str(own)
    monkeypatch.setenv("OUTSIM_APP_SCENARIO", str(tmp_path / "gone.toml"))
    assert scenario_choices() == shipped_scenarios()


def test_a_rebuilt_market_uses_only_checked_settings(secret_toml):
    """RESET builds the market from Settings again held to their ranges; a scenario the picker does not offer or
    a seed out of range or a value that is no number is refused before anything is read or built."""
    s = Settings.for_scenario(BASELINE)
    wild = dataclasses.replace(s, firms=100000, beta=99.0, gamma=-1.0, fee_rate=7.0, recession_week=10**6)
    held = wild.validated()
    assert (held.firms, held.beta, held.gamma, held.fee_rate) == (2000, 5.0, 0.01, 0.3)
    assert held.recession_week == recession_latest(load_scenario(BASELINE))
    for bad in (dataclasses.replace(s, scenario=str(secret_toml)), dataclasses.replace(s, scenario="/etc/passwd"),
                dataclasses.replace(s, seed=-1), dataclasses.replace(s, fee_rate=float("inf"))):
        with pytest.raises(ControlError) as exc:
            DashboardModel(bad)
        assert SECRET not in str(exc.value) and "\n" not in str(exc.value)


def test_the_week_never_passes_the_horizon():
    """A Step click the browser would not send (the button is greyed out at the end) leaves the finished run as it is."""
    m = DashboardModel(Settings.for_scenario(BASELINE).with_value("firms", 100))
    m.cfg.run.steps = 2
    for _ in range(5):
        m.step()
    assert m.week == 2 and len(m.history) == 2 and m.running is False


def test_guarded_shows_one_line_and_logs_the_traceback(capsys):
    """A handler's refusal shows as its own line; any other error as a fixed line, its traceback on stderr only."""
    def leaky():
        raise RuntimeError(f"line one\npassword = {SECRET}")

    assert guarded(leaky) == UNEXPECTED
    err = capsys.readouterr().err
    assert "Traceback" in err and SECRET in err
    assert guarded(lambda: (_ for _ in ()).throw(ControlError("first\n  second"))) == "first second"
    assert guarded(lambda: None) == ""


def test_sidebar_handlers_hold_bad_values(session, secret_toml):
    """The sidebar's own handlers, sent bad values as a crafted websocket message would: nothing raises, every
    setting stays in range, refusals show as one plain line, and no traceback or file content reaches the page."""
    settings = session["settings"]
    box, rc = solara.render(dashboard.Controls(**session), handle_error=False)
    picker = rc.find(v.Select).widget
    for label in [*BAD_LABELS, str(secret_toml)]:
        picker.v_model = label
        assert settings.value.scenario == str(BASELINE)
        assert any("is not one of the" in line for line in problem_lines(rc)) and "is not one of the" in page_text(box)
        assert_nothing_leaks(box, rc)
    seed = rc.find(v.TextField, label="Seed (whole number)").widget
    for text in ["²", "-1", "1e9", "", "99999999999999999999", "7"]:
        seed.v_model = text
        assert settings.value.seed == (7 if text == "7" else 1)
        assert seed.error == (text != "7") and all("\n" not in m for m in seed.messages)
    limits = settings.value.limits()
    for p in PARAMS:
        slider = rc.find(v.Html, class_=f"outsim-param outsim-param-{p.field}").find(v.Slider).widget
        for value in BAD_NUMBERS:
            slider.v_model = value
            now = getattr(settings.value, p.field)
            assert limits[p.field].low <= now <= limits[p.field].high and math.isfinite(now)
        assert getattr(settings.value, p.field) == limits[p.field].high  # 1e300 clamped; the rest refused
        assert_nothing_leaks(box, rc)
    assert settings.value.firms == 2000
    rc.find(v.Switch).widget.v_model = "yes"
    assert settings.value.recession is False and any("is not on or off" in line for line in problem_lines(rc))
    assert_nothing_leaks(box, rc)


def test_run_speed_and_firm_picker_hold_bad_values(session):
    """Weeks per step and the pause between updates (read by Mesa's play loop) and the decision trail's firm id
    are held to their ranges whatever the page sends; a value that is not a number leaves them as they were."""
    weeks, pause = solara.reactive(1), solara.reactive(150)
    box, rc = solara.render(dashboard.RunCard(session["model"], session["settings"], session["params"], pause, weeks),
                            handle_error=False)
    steps = rc.find(v.Slider, label="Weeks per step / screen update: 1").widget
    steps.v_model = 10**9
    assert weeks.value == 26
    rc.find(v.Slider, label="Pause between updates: 150 ms").widget.v_model = -5000
    assert pause.value == 0
    for slider in rc.find(v.Slider).widgets:
        for value in ("abc", None, [3], float("nan")):
            slider.v_model = value
    assert (weeks.value, pause.value) == (26, 0) and len(problem_lines(rc)) == 1
    assert_nothing_leaks(box, rc)

    m, firm = session["model"].value, session["firm"]
    box, rc = solara.render(panels.FirmPicker(m, firm, 0), handle_error=False)
    picker = rc.find(v.TextField, label="Firm id").widget
    enter(picker, "99999999")
    assert firm.value == len(m.firm_agents) - 1
    for text in ("²", "-1", "1e9", "", "1" * 5000):
        enter(picker, text)
        assert firm.value in (0, len(m.firm_agents) - 1)
    assert firm.value == 0 and len(problem_lines(rc)) == 1  # "-1" clamped to 0; the rest refused
    assert_nothing_leaks(box, rc)
