"""End-to-end tests of the report, figures and explain on real short runs of the model (made with the CLI)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import measures as M
from analysis.explain import explain
from analysis.figure_registry import figure_specs
from analysis.formatting import Formatter, format_number
from analysis.load import NotEnoughData, load_run
from analysis.report import write_report
from analysis.stats import window_mean

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "firms.count=150", "--set", "providers.bpo_count=15", "--set", "providers.kpo_count=6"]


def _run(out: Path, *args: str) -> Path:
    subprocess.run([sys.executable, "-m", "simulation.cli", "run", "scenarios/baseline.toml", *args, "--no-report", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory) -> Path:
    """A 120-week baseline with 150 firms, 15 BPO providers and 6 KPO specialists."""
    return _run(tmp_path_factory.mktemp("analysis") / "base", "--steps", "120", *SMALL)


@pytest.fixture(scope="module")
def noperm_run(tmp_path_factory) -> Path:
    """A 40-week run in which permanent contracts are not allowed (a degenerate market)."""
    return _run(tmp_path_factory.mktemp("analysis") / "noperm", "--steps", "40", *SMALL,
                "--set", "contracts.allow_permanent=false")


@pytest.fixture(scope="module")
def baseline_report(baseline_run) -> str:
    """The HTML of the baseline run's report."""
    return write_report(baseline_run).read_text(encoding="utf-8")


def test_report_is_one_self_contained_file(baseline_run, baseline_report):
    """report.html exists and links nothing outside itself: no http(s) URLs, every src is a data: URI, no script."""
    assert (baseline_run / "report.html").is_file()
    assert "http://" not in baseline_report and "https://" not in baseline_report
    sources = re.findall(r"""src=["']([^"']*)""", baseline_report)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in baseline_report.lower() and "<link" not in baseline_report.lower()


def test_report_contains_every_run_figure(baseline_run, baseline_report):
    """Every figure registered for runs is embedded in the report and saved as PNG and SVG under figures/."""
    for spec in figure_specs():
        if spec.needs != "run":
            continue
        block = re.search(rf"<figure id='fig-{spec.name}'>(.*?)</figure>", baseline_report, re.DOTALL)
        assert block and "data:image/png;base64," in block.group(1), spec.name
        assert (baseline_run / "figures" / f"{spec.name}.png").is_file()
        assert (baseline_run / "figures" / f"{spec.name}.svg").is_file()


def test_report_states_numbers_computed_from_the_data(baseline_run, baseline_report):
    """Key findings, calibration and provenance carry the numbers the measures compute from the same folder."""
    run = load_run(baseline_run)
    window = M.last_window(run.steps)
    perm = window_mean(run.metrics, window, ["permanent_share"])["permanent_share"]
    assert f"In weeks {window[0]}–{window[1]}, {perm:.0%} of demand (hours) was served under permanent" in baseline_report
    rates = M.renewal_rates(run.contracts).set_index("kind")["rate"]
    assert set(rates.index) == {"bpo", "kpo"}  # contracts signed in the 156-week warm-up end within 120 weeks
    assert (f"Renewal at term end (the client kept its provider): {rates['kpo']:.0%} for KPO contracts vs "
            f"{rates['bpo']:.0%} for BPO") in baseline_report
    assert "Calibration targets" in baseline_report and "80–85%" in baseline_report
    assert run.manifest["git_revision"] in baseline_report and "<details>" in baseline_report


def test_every_figure_on_a_run_without_permanent_contracts(noperm_run, tmp_path):
    """On a run without permanent contracts each figure is drawn or raises NotEnoughData with a message, never crashes."""
    run = load_run(noperm_run)
    assert run.contracts.empty and (run.relationships["form"].astype(str) == "on_call").all()
    outcomes = {}
    for spec in figure_specs():
        try:
            png = spec.draw(run, tmp_path)
            assert png.is_file()
            outcomes[spec.name] = "drawn"
        except NotEnoughData as exc:
            assert len(str(exc)) > 10
            outcomes[spec.name] = "message"
    assert outcomes["whatif"] == "message" and outcomes["survival"] == "drawn"
    html = write_report(noperm_run).read_text(encoding="utf-8")
    assert "No work was done under permanent contracts in this run." in html
    assert "no permanent spells in this run" not in html  # that is drawn inside the survival figure, not as text


def test_explain_prints_reviews_and_contract_events(baseline_run):
    """The trail of a firm with a contract lists its reviews with costs and its contract events with prices."""
    run = load_run(baseline_run)
    signed = run.contracts[run.contracts["event"].astype(str) == "signed"].iloc[0]
    text = explain(baseline_run, int(signed["firm_id"]), str(signed["service"]))
    assert "REVIEW" in text and "(cheapest)" in text and "options (expected cost, cu/week)" in text
    assert f"CONTRACT #{int(signed['contract_id'])} SIGNED" in text and f"{signed['price_per_hour']:.2f} cu/h" in text
    assert str(signed["reason"]) in text
    week_lines = [int(m) for m in re.findall(r"^week\s+(\d+)", text, re.MULTILINE)]
    assert week_lines == sorted(week_lines)  # week by week


def test_explain_rejects_unknown_firm_and_service(baseline_run):
    """An unknown firm id names the valid range; a service the firm does not use names the ones it does."""
    with pytest.raises(ValueError, match=r"firm 10000 does not exist .*valid firm ids are 0\.\.149"):
        explain(baseline_run, 10_000)
    run = load_run(baseline_run)
    firm = run.firms.iloc[0]
    unused = next(s for s in run.service_kind if s not in firm["services"].split(","))
    with pytest.raises(ValueError, match=rf"does not use service '{unused}'; it uses: {firm['services'].split(',')[0]}"):
        explain(baseline_run, int(firm["firm_id"]), unused)


def test_a_number_only_some_runs_have_is_said_plainly():
    """Means over runs name how many runs have the number; one run of four is not "same in all 1 runs"."""
    f = Formatter([{"x": 0.5}, {}, {}, {}])
    assert f("x") == "50% (only 1 of 4 runs has it)"
    assert Formatter([{"x": 0.5}, {"x": 0.5}, {}])("x") == "50% (same in the 2 of 3 runs that have it)"
    assert Formatter([{"x": 0.5}, {"x": 0.5}])("x") == "50% (same in all 2 runs)"
    assert Formatter([{"x": 0.2}, {"x": 0.4}])("x") == "30% (20%–40% over all 2 runs)"


def test_figure_titles_fit_inside_their_figures(tmp_path):
    """No suptitle is clipped at the figure's edges, even with a ten-digit replication seed in it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = []
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        drawn.append(fig)
        return original(fig, *args, **kwargs)

    run = load_run(_run(tmp_path / "run", "--steps", "60", *SMALL, "--seed", "1641411168"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", keep)
        for spec in figure_specs():
            if spec.needs == "run":
                spec.draw(run, tmp_path / "figs")
    assert drawn
    for fig in drawn:
        if fig._suptitle is None:
            continue
        renderer = FigureCanvasAgg(fig).get_renderer()
        box, page = fig._suptitle.get_window_extent(renderer), fig.bbox
        assert box.x0 >= page.x0 and box.x1 <= page.x1, fig._suptitle.get_text()


def test_explain_puts_a_provider_exit_before_the_review_it_caused(tmp_path):
    """A failed provider's contracts end in phase 6 of the week, the reviews they force come in phase 7."""
    out = tmp_path / "failure"
    subprocess.run([sys.executable, "-m", "simulation.cli", "run", "scenarios/large_provider_failure.toml", *SMALL,
                    "--steps", "158", "--seed", "2", "--no-report", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    run = load_run(out)
    exits = run.contracts[run.contracts["event"] == "provider_exit"]
    reviews = run.decisions.merge(exits[["week", "firm_id", "service"]], on=["week", "firm_id", "service"])
    assert len(reviews), "the failure forces reviews in its week"
    firm, service, week = int(reviews["firm_id"].iloc[0]), str(reviews["service"].iloc[0]), int(reviews["week"].iloc[0])
    lines = explain(out, firm, service).splitlines()
    exit_at = next(i for i, line in enumerate(lines) if line.startswith(f"week {week:>4}  CONTRACT") and "PROVIDER_EXIT" in line)
    review_at = next(i for i, line in enumerate(lines) if line.startswith(f"week {week:>4}  REVIEW"))
    assert exit_at < review_at


def test_money_keeps_the_digits_a_small_market_needs():
    """Millions of cu with no decimals from 10 M, one from 1 M, then two or three: a small market's surplus
    reads 0.09 M cu, not 0 M cu next to a bar that is visibly above zero."""
    assert [format_number(x, "money") for x in (1.234e9, 12.4e6, 6.85e6, -1.37e6, 94_000, -4_000, 0.0)] == [
        "1,234 M cu", "12 M cu", "6.8 M cu", "-1.4 M cu", "0.09 M cu", "-0.004 M cu", "0 M cu"]
    assert format_number(94_000, "money", bare=True) == "0.09"
