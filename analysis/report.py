"""One self-contained HTML report per run folder: findings, calibration, figures, config, provenance.

:func:`write_report` reads a folder of any kind (run, replications, comparison), draws the figures
into ``figures/`` (PNG and SVG), and writes ``report.html`` next to the data, with the calibration
table as data in ``calibration.csv`` (for a comparison: the base's). The report is one file:
figures are embedded as base64 PNG, styles are inline, there is no script and no external link, so it
reads the same offline and when mailed. Figures that cannot be drawn from the data (for example the
what-if figure for a single run) appear as a short text saying why.

Run it as ``python -m analysis.report RUN_DIR``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import findings as F
from analysis import measures as M
from analysis.calibration_table import calibration, calibration_csv
from analysis.decision_audit import audit
from analysis.files import write_atomic
from analysis.figure_registry import DrawnFigure, draw_all
from analysis.html import config_html, esc, page, png, provenance_html, table
from analysis.formatting import Formatter
from analysis.load import Comparison, Replications, RunData, load
from analysis.replications import multiplicity_note
from analysis.stats import few_runs_warning
from analysis.whatifs import effects_pivot, holm_footnote

def _figures_html(drawn: Sequence[DrawnFigure], prefix: str = "", runs: Sequence[RunData] = ()) -> str:
    """The figures with their captions; given several ``runs``, each caption says whether the figure
    shows all of them or only the first."""
    out = []
    for d in drawn:
        source = ""
        if len(runs) > 1:
            source = (f" Drawn from all {len(runs)} replications." if d.spec.all_runs else
                      f" Drawn from one replication only: {runs[0].path.name}, seed {runs[0].manifest.get('seed', '?')}.")
        fid = f"fig-{prefix}{d.spec.name}"
        if d.png is None:
            out.append(f"<figure id='{fid}'><h3>{esc(d.spec.title)}</h3><p class='missing'>Not drawn: "
                       f"{esc(d.message)}</p></figure>")
            continue
        out.append(f"<figure id='{fid}'><h3>{esc(d.spec.title)}</h3>{png(d.png, d.spec.title)}"
                   f"<figcaption>{esc(d.spec.caption + source)} "
                   f"(<code>figures/{prefix.replace('-', '/')}{d.png.name}</code>, also as SVG)</figcaption></figure>")
    return "\n".join(out)


def _calibration_html(numbers: Sequence[dict]) -> str:
    rows = calibration(numbers)
    body = "".join(f"<tr><td class='l'>{esc(r['measure'])}</td><td class='l'>{esc(r['industry'])}</td>"
                   f"<td>{esc(r['model'])}</td><td>{esc(r['range'])}</td><td class='l {r['verdict']}'>{esc(r['verdict'])}</td>"
                   f"<td class='l sub'>{esc(r['how'])}</td></tr>" for r in rows)
    return ("<p class='sub'>Industry figures (ISG/TPI Index, Everest Group, Deloitte, Aon/WTW, NASSCOM, SPI) beside "
            "the model's own numbers; the verdict compares the model's number (mean over runs) with the range used, "
            "our reading of the industry figure. A name at the start of a row's last column is the calibration "
            "moment that `outsim calibrate` fits, taken over the window its last column names (the last year of the "
            "run unless it says otherwise). calibration.csv in this folder holds the same table as data.</p>"
            "<table><tr><th class='l'>measure</th><th class='l'>industry</th><th>model</th><th>range used</th><th class='l'>verdict</th>"
            f"<th class='l'>how the model's number is made</th></tr>{body}</table>")


def _tables_html(run: RunData) -> str:
    """The report's tables, each from the table of the run it needs; a table the run did not record gives a
    note instead (an empty table would say that nothing happened)."""
    w = M.last_window(run.steps)
    parts = []
    for table, what, html in (("relationships", "Relationship spells, prices, concentration and segments", _spell_tables),
                              ("decisions", "Mode transitions and the decision audit", _decision_tables),
                              ("contracts", "Renewal at term end", _contract_tables)):
        note = run.recording_note(table)
        if table in run.not_recorded:
            parts.append(f"<h3>{esc(what)}</h3><p class='missing'>Not shown: {esc(note)}.</p>")
            continue
        if note:
            parts.append(f"<p class='sub'>Note: {esc(note)}.</p>")
        parts += html(run, w)
    return "\n".join(parts)


def _spell_tables(run: RunData, w: tuple[int, int]) -> list[str]:
    parts = []
    spells = M.spell_summary(run.relationships)
    if len(spells):
        spells = spells.rename(columns={"censored_share": "censored", "mean_weeks": "mean weeks (biased by censoring)",
                                        "km_q25_weeks": "KM 25% ended (weeks)", "km_median_weeks": "KM median (weeks)",
                                        "km_q75_weeks": "KM 75% ended (weeks)", "survive_52": "lasting > 52 weeks"})
        parts.append("<h3>Relationship spells (whole run; KM = Kaplan-Meier)</h3>" + table(
            spells, {"censored": ".0%", "lasting > 52 weeks": ".0%", "volume_hours": ",.0f", "spells": ",d"},
            left=("form", "kind")))
    prices = M.price_summary(M.with_provider_region(run.relationships, run.providers), ("form", "kind", "region"), w)
    if len(prices):
        parts.append(f"<h3>Prices by form, kind and provider region, weeks {w[0]}–{w[1]} (cu/h)</h3>" + table(
            prices, {"spells": ",d", "volume_hours": ",.0f", "cv": ".2f"}, left=("form", "kind", "region")))
    hhi = M.hhi_by_service(run.relationships, w)
    if len(hhi):
        parts.append(f"<h3>Concentration by service, weeks {w[0]}–{w[1]}</h3>" + table(
            hhi, {"hhi": ",.0f", "equivalent_providers": ".1f"}, left=("service", "kind")))
    if len(run.relationships):
        seg = pd.concat([M.segment_form_shares(run.relationships, run.firms, run.providers, by, w).assign(by=by)
                         for by in ("size_class", "region")])
        parts.append(f"<h3>Outsourced volume by form and segment, weeks {w[0]}–{w[1]}</h3>" + table(
            seg[["by", "segment", "on_call", "permanent", "volume_hours"]],
            {"on_call": ".0%", "permanent": ".0%", "volume_hours": ",.0f"}, left=("by", "segment")))
        br = pd.concat([M.broker_shares(run.relationships, run.firms, by).assign(by=by) for by in ("size_class", "kind")])
        parts.append("<h3>Broker share of matches and volume (whole run)</h3>" + table(
            br[["by", "segment", "spells", "match_share", "volume_share"]],
            {"spells": ",d", "match_share": ".0%", "volume_share": ".0%"}, left=("by", "segment")))
    return parts


def _decision_tables(run: RunData, w: tuple[int, int]) -> list[str]:
    tm = M.transition_matrix(run.decisions).reset_index()
    parts = ["<h3>Mode transitions at reviews (rows: before, columns: after)</h3>"
             + table(tm, {m: ",d" for m in M.MODES}, left=("mode_before",))]
    if len(run.decisions):
        by_size = M.on_call_mode_by_segment(run.decisions, run.firms, w)
        parts.append(f"<h3>On-call as the chosen mode by firm size, weeks {w[0]}–{w[1]}</h3><p class='sub'>Among "
                     "firm-services that outsource, the share whose last review in the window chose on-call work "
                     "(direct or through a broker).</p>" + table(
                         by_size, {"outsourcing": ",d", "on_call_mode_share": ".0%"}, left=("segment",)))
    audited = audit(run.decisions)
    if len(audited):
        parts.append("<h3>Decision audit (whole run): what firms expected to pay at a review and what they paid "
                     "until the next one (cu/week)</h3><p class='sub'>Per option taken, the mean expected weekly cost "
                     "and the mean realised weekly cost over the following review period (at least 4 weeks); gap = "
                     "realised / expected - 1, positive when firms paid more than they expected.</p>" + table(
                         audited, {"reviews": ",d", "expected": ",.0f", "realised": ",.0f", "gap": "+.1%"},
                         left=("option taken",)))
    return parts


def _contract_tables(run: RunData, w: tuple[int, int]) -> list[str]:
    ren = M.renewal_rates(run.contracts, "service")
    return ["<h3>Renewal at term end by service</h3>" + table(ren, {"rate": ".0%"}, left=("service",))] if len(ren) else []


def _summary(runs: Sequence[RunData], label: str) -> str:
    r = runs[0]
    kinds = r.service_kind
    services = ", ".join(f"{s} ({k.upper()})" for s, k in kinds.items())
    size = r.manifest.get("market", {})
    scale = F._get(r.config, "run", "scale", default=1)
    scaled = f", the scenario's market scaled by {scale}" if scale != 1 else ""
    return (f"<p><i>The scenario:</i> {esc(r.manifest.get('description', ''))}</p>"
            f"<p><i>As run</i> (with any --set and --scale options{esc(scaled)}): {esc(label)}: {len(r.firms):,} "
            f"client firms, {size.get('bpo_providers', '?')} BPO providers, {size.get('kpo_providers', '?')} KPO "
            f"specialists and {size.get('brokers', '?')} broker{'' if size.get('brokers') == 1 else 's'} at the start "
            "of the warm-up "
            f"({F.providers_at_start(r.providers)} providers active in week 1), {r.steps} weeks; services: "
            f"{esc(services)}.</p>")


def _headline(numbers: Sequence[dict]) -> str:
    f = Formatter(numbers)
    if not f.ok("permanent_all"):
        return ""
    renewal = (f" Renewal at term end: {f('renewal_kpo')} (KPO) vs {f('renewal_bpo')} (BPO)."
               if f.ok("renewal_kpo") or f.ok("renewal_bpo") else "")
    return (f"<p>In the last year permanent contracts carried <b>{f('permanent_all')}</b> of demand, on-call work "
            f"<b>{f('on_call_all')}</b> and in-house staff <b>{f('in_house_all')}</b>; permanent contracts carried "
            f"{f('permanent_of_outsourced_all')} of the outsourced volume.{renewal}</p>")


def _write_calibration_csv(numbers: Sequence[dict], out_dir: Path) -> None:
    """calibration.csv: the calibration table as data (figure, unit, low, high, model, within)."""
    frame = calibration_csv(numbers)
    write_atomic(out_dir / "calibration.csv", lambda p: frame.to_csv(p, index=False))


def _run_sections(runs: Sequence[RunData], out_dir: Path, title: str, label: str) -> str:
    numbers = [F.run_numbers(r) for r in runs]
    _write_calibration_csv(numbers, out_dir)
    drawn = draw_all(runs if len(runs) > 1 else runs[0], out_dir / "figures")
    note = (f"<p class='sub'>Numbers are means over {len(runs)} replications with their range; the emergence figure "
            f"shows all replications, the other figures and tables the first ({esc(runs[0].path.name)}).</p>"
            if len(runs) > 1 else "")
    if len(runs) > 1 and (warning := few_runs_warning(len(runs))):
        note += f"<p class='missing'>Warning: {esc(warning)}.</p>"
    checks = "".join(f"<li>{esc(c)}</li>" for c in F.data_checks(runs[0]))
    items = "".join(f"<li>{esc(s)}</li>" for s in F.statements(numbers))
    return (f"<h1>{esc(title)}</h1><h2>Summary</h2>{_summary(runs, label)}{_headline(numbers)}<h2>Key findings</h2>{note}<ul>{items}</ul>"
            f"<h2>Calibration targets</h2>{_calibration_html(numbers)}<h2>Figures</h2>{_figures_html(drawn, runs=runs)}"
            f"<h2>Tables</h2>{_tables_html(runs[0])}<h2>Data notes</h2><ul>{checks}</ul>"
            f"<h2>Config</h2>{config_html(runs[0].config)}")


def _comparison_sections(cmp: Comparison, out_dir: Path) -> str:
    drawn = draw_all(cmp, out_dir / "figures", needs=("comparison",))
    listed = cmp.manifest.get("whatifs") or [{"name": cmp.manifest.get("whatif", "what-if"), "folder": "whatif"}]
    names = [str(w.get("name", "what-if")) for w in listed]
    events = "; ".join(f"{name}: weeks {', '.join(map(str, weeks)) or 'none'}"
                       for name, weeks in zip(names, cmp.event_weeks))
    parts = [f"<h1>outsim what-if report: {esc(', '.join(names))} vs {esc(cmp.manifest.get('base', 'base'))}</h1>",
             f"<p>Event weeks: {esc(events)}.</p>"]
    verdicts = [w["verdict"] for w in listed if w.get("verdict")]
    if verdicts:
        parts.append("<h2>Verdicts</h2><ul>" + "".join(f"<li>{esc(v)}</li>" for v in verdicts) + "</ul>")
    parts += ["<h2>What-if figure</h2>", _figures_html(drawn)]
    if cmp.table is not None and len(cmp.table):
        parts.append(_comparison_table_html(cmp.table))
    base_n = [F.run_numbers(r) for r in cmp.base.runs]
    _write_calibration_csv(base_n, out_dir)
    for entry, reps in [({"folder": "base"}, cmp.base), *zip(listed, cmp.whatifs)]:
        folder = entry["folder"]
        items = "".join(f"<li>{esc(s)}</li>" for s in F.statements([F.run_numbers(r) for r in reps.runs]))
        figs = draw_all(reps.runs, out_dir / "figures" / folder)
        parts.append(f"<h2>{'Base' if folder == 'base' else 'What-if'}: {esc(reps.label)}</h2>"
                     f"{_summary(reps.runs, reps.label)}<ul>{items}</ul>"
                     f"{_figures_html(figs, prefix=folder + '-', runs=reps.runs)}")
    parts.append(f"<h2>Calibration targets (base)</h2>{_calibration_html(base_n)}")
    for name, reps in zip(names, cmp.whatifs):
        parts.append(f"<h2>Config (what-if {esc(name)})</h2>{config_html(reps.runs[0].config)}")
    return "\n".join(parts)


def _comparison_table_html(frame: pd.DataFrame) -> str:
    """The effects by phase with a column per what-if (comparison.parquet), or an older one-window table as is."""
    warning = few_runs_warning(int(frame["n"].min())) if "n" in frame else None
    if {"whatif", "phase", "effect"} <= set(frame.columns):
        spans = frame.drop_duplicates(["whatif", "phase"])
        phases = "; ".join(f"{r.whatif} {r.phase}: weeks {r.first_week}-{r.last_week}" for r in spans.itertuples())
        body = (table(effects_pivot(frame), left=("phase", "metric"))
                + f"<p class='sub'>Each cell: the what-if minus the base, mean over the seed pairs with its 95% interval; "
                  f"pp = percentage points, % = of the base. Phases: {esc(phases)}. {esc(holm_footnote(frame))}.</p>")
    else:
        body = table(frame, left=("metric",)) + f"<p class='sub'>{esc(multiplicity_note(len(frame)))}</p>"
    return ("<h2>Effects by phase (from comparison.parquet)</h2>" + body
            + (f"<p class='missing'>Warning: {esc(warning)}.</p>" if warning else ""))


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` (and ``run_dir/figures/``) for a folder of any kind; returns the HTML path.

    Raises:
        analysis.load.RunFolderError: the folder is not an outsim run folder.
    """
    run_dir = Path(run_dir)
    data = load(run_dir)
    if isinstance(data, Comparison):
        body = _comparison_sections(data, run_dir)
        manifest = data.manifest
    elif isinstance(data, Replications):
        body = _run_sections(data.runs, run_dir, f"outsim report: {data.label}", data.label)
        manifest = data.manifest
    else:
        body = _run_sections([data], run_dir, f"outsim report: {data.label}", data.label)
        manifest = data.manifest
    body += f"<h2>Provenance</h2>{provenance_html(manifest, {'folder': run_dir.resolve()})}"
    out = run_dir / "report.html"
    html = page(f"outsim report: {manifest.get('scenario', run_dir.name)}", body)
    write_atomic(out, lambda p: p.write_text(html, encoding="utf-8"))
    return out


if __name__ == "__main__":  # python -m analysis.report RUN_DIR [RUN_DIR ...]
    for arg in sys.argv[1:] or ["."]:
        print(write_report(arg))
