"""Pieces the dashboard's cards share: the page's style sheet, plain sliders and one-line problem messages."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import solara

from simulation.app.controls import Limit, guarded, one_line

CSS = """
.outsim-table {border-collapse: collapse; font-size: 12px; width: 100%}
.outsim-table th, .outsim-table td {height: auto !important; line-height: 1.3; padding: 2px 6px; text-align: left}
.outsim-table th {border-bottom: 1px solid #999; white-space: nowrap} .outsim-table td {border-bottom: 1px solid #e3e3e3; white-space: nowrap}
.outsim-table td:last-child {white-space: normal; min-width: 130px}
.outsim-feed .outsim-table {font-size: 11.5px}
.outsim-feed .outsim-table td {white-space: normal} .outsim-feed .outsim-table td:nth-child(3) {white-space: nowrap}
.outsim-scroll {max-height: 560px; overflow: auto}
.outsim-caption {font-size: 13px; color: #555; margin-bottom: 4px}
.outsim-grid {display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 12px}
.outsim-grid > * {min-width: 0; overflow-x: auto}
.outsim-firm, .outsim-trail {max-width: 100%; overflow-x: auto} .outsim-trail th, .outsim-trail td {white-space: normal}
.outsim-main {min-width: 0; max-width: 100%}
.outsim-problem {font-size: 13px; color: #b00020; margin: 2px 0 4px}
.outsim-note {font-size: 13px; background: #e8f1fb; border-left: 4px solid #2196f3; padding: 8px 12px; margin: 4px 0}
"""



def use_problem() -> tuple[str, Callable[..., str]]:
    """A component's one-line problem, and ``attempt(action, *args)``, which runs a handler with
    :func:`~simulation.app.controls.guarded` and shows why it did nothing, if it did nothing."""
    problem = solara.use_reactive("")

    def attempt(action: Callable[..., Any], *args: Any) -> str:
        problem.set(guarded(action, *args))
        return problem.value

    return problem.value, attempt


@solara.component
def ProblemLine(text: str):
    """One plain line saying why the last change was refused (nothing when it was not)."""
    if text:
        solara.HTML(tag="div", classes=["outsim-problem"], unsafe_innerHTML=html.escape(one_line(text)))


def slider(value: float, limit: Limit, step: float, on_value: Callable[[Any], None], label: str = ""):
    """A slider over ``limit`` that hands what the browser sends to ``on_value`` as it is.

    Solara's SliderInt and SliderFloat first convert it with int() or float(), which raises for anything
    that is not a number and sends the traceback to the page; here the handler checks it (controls.checked).
    """
    return solara.v.Slider(v_model=value, on_v_model=on_value, min=limit.low, max=limit.high, step=step,
                           label=label, thumb_label=False, hide_details=True)


