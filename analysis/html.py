"""The pieces every outsim HTML report is made of: the page with its inline style, escaped text, tables,
embedded PNG figures, the resolved config and the provenance block.

Reports are one self-contained file each: styles are inline, figures are base64 PNG, there is no
script and no external link, so a report reads the same offline and when mailed.
"""

from __future__ import annotations

import base64
import html
import json
import numbers
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.25em .55em;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}.sub{color:#555}
figure{margin:1.4em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#444;font-size:.93em}
.missing{background:#fff6e0;border:1px solid #e8c66a;padding:.6em .9em;border-radius:4px}
.within{color:#1a7f37}.below,.above,.outside{color:#b35900}.partly{color:#7a6a00}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}code{background:#f4f4f4;padding:0 .2em}
li{margin:.25em 0}
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


def table(df: pd.DataFrame, formats: dict[str, str] | None = None, left: Iterable[str] = ()) -> str:
    """A DataFrame as an HTML table; ``formats`` maps column -> format spec (e.g. ".0%")."""
    formats, left = formats or {}, set(left)
    head = "".join(f"<th class='l'>{esc(str(c).replace('_', ' '))}</th>" if c in left else
                   f"<th>{esc(str(c).replace('_', ' '))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            if isinstance(v, float) and pd.isna(v):
                text = "–"
            elif c in formats and isinstance(v, numbers.Number):
                text = format(v, formats[c])
            elif isinstance(v, float):
                text = f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
            else:
                text = str(v)
            cells.append(f"<td class='l'>{esc(text)}</td>" if c in left else f"<td>{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def png(path: Path, alt: str) -> str:
    """An <img> with the PNG file embedded as base64."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{data}'>"


def flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            rows += flatten(v, key + ".")
        else:
            rows.append((key, json.dumps(v) if isinstance(v, (list, bool)) or v is None else str(v)))
    return rows


def config_html(config: dict) -> str:
    rows = "".join(f"<tr><td class='l'><code>{esc(k)}</code></td><td class='l'>{esc(v)}</td></tr>"
                   for k, v in flatten(config))
    return (f"<details><summary>Resolved config ({len(flatten(config))} values)</summary>"
            f"<table><tr><th class='l'>key</th><th class='l'>value</th></tr>{rows}</table></details>")


def provenance_html(manifest: dict, extra: dict | None = None) -> str:
    keys = ["kind", "scenario", "description", "seed", "seeds", "steps", "git_revision", "created_utc"]
    rows = [(k, manifest[k]) for k in keys if k in manifest] + list((extra or {}).items())
    for group in ("versions", "timings_seconds"):
        for k, v in (manifest.get(group) or {}).items():
            rows.append((f"{group}.{k}", v))
    body = "".join(f"<tr><td class='l'>{esc(k)}</td><td class='l'>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>")
