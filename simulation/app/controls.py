"""What every dashboard control accepts, and the one function that holds what the page sends to it.

The page's widgets take their ranges from here, and every handler passes what the browser sent through
:func:`checked` (numbers), :func:`switch` (on/off) or :func:`choice` (a label from a list) before it reaches
the Settings or the model. A slider's limits in the browser are a courtesy, not a guarantee: anyone can
send any value over the page's websocket. A number outside its range is moved to the nearest end (a seed,
whose nearest end would be a different run, is refused instead); anything else is refused with a
:class:`ControlError`, whose message is one plain line for the page, and nothing changes.
:func:`guarded` runs a handler and turns any failure into such a line, printing an unexpected error's
traceback to the server's stderr, never to the page.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

WHOLE = re.compile(r"[+-]?[0-9]{1,30}")  # ASCII digits only: str.isdigit() also passes "²" and "٣"
DECIMAL = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})")
SHOWN_CHARS, LINE_CHARS = 40, 240  # how much of a sent value a message repeats; the longest problem line
UNEXPECTED = "Something went wrong on the server, so nothing was changed (the server's log has the details)."


class ControlError(ValueError):
    """A value a control cannot take; ``str(error)`` is one plain line for the page."""


@dataclass(frozen=True)
class Limit:
    """The values one control takes: ``low`` to ``high``, whole numbers if ``whole``.

    Out of range, a value is moved to the nearest end, or refused if ``clamp`` is False.
    """

    low: float
    high: float
    whole: bool = True
    clamp: bool = True


@dataclass(frozen=True)
class Param:
    """One market slider: the Settings field it sets, the dotted config key it overrides, label, unit and range.

    The range shown and enforced always includes the scenario's own value (:meth:`limit`).
    """

    field: str
    key: str
    label: str
    unit: str
    min: float
    max: float
    step: float
    whole: bool = False

    def limit(self, scenario_value: float) -> Limit:
        """This slider's range for a scenario whose own value is ``scenario_value``."""
        return Limit(min(self.min, scenario_value), max(self.max, scenario_value), self.whole)


PARAMS = (
    Param("firms", "firms.count", "Client firms", "firms", 100, 2000, 50, whole=True),
    Param("demand_volatility", "firms.demand_volatility", "Demand volatility", "log-sd per week", 0.0, 0.6, 0.01),
    Param("learning_multiplier", "contracts.learning_multiplier", "Relationship learning", "x service strength", 0.0, 3.0, 0.1),
    Param("beta", "choice.beta", "Choice intensity beta", "1/payoff", 0.0, 5.0, 0.1),
    Param("gamma", "choice.gamma", "Memory gamma", "decay per week", 0.01, 0.5, 0.01),
    Param("offshore_wage", "regions.offshore.wage_per_hour", "Offshore wage", "cu/hour", 2.0, 20.0, 0.5),
    Param("fee_rate", "intermediaries.fee_rate", "Broker fee", "share of payment", 0.0, 0.3, 0.01),
)
SEED = Limit(0, 2**32 - 1, clamp=False)
WEEKS_PER_STEP = Limit(1, 26)
PAUSE_MS = Limit(0, 1000)
LABELS = {**{p.field: p.label for p in PARAMS}, "seed": "Seed", "recession": "Recession",
          "recession_week": "Recession starts", "scenario": "Scenario"}


def firm_ids(firms: int) -> Limit:
    """The firm ids a market of ``firms`` firms has, for the decision trail's firm picker."""
    return Limit(0, max(firms - 1, 0))


def checked(label: str, value: Any, limit: Limit) -> int | float:
    """``value`` as a number within ``limit``, for the control called ``label``.

    Takes ints, floats and text of ASCII digits ("7", "0.25"). Refuses booleans, NaN, infinities, other
    text ("²", "1e9", "") and anything else, and an out-of-range value if the limit does not clamp.

    Raises:
        ControlError: one line naming the control, the value sent and the range.
    """
    number = _number(value, limit.whole)
    if number is None:
        raise ControlError(f"{label}: {shown(value)} is not {'a whole number' if limit.whole else 'a number'}; "
                           f"{_range(limit)}.")
    if not limit.low <= number <= limit.high:
        if not limit.clamp:
            raise ControlError(f"{label}: {shown(value)} is out of range; {_range(limit)}.")
        number = min(max(number, limit.low), limit.high)
    return int(round(number)) if limit.whole else float(number)


def switch(label: str, value: Any) -> bool:
    """``value`` if it is True or False; anything else (1, "false", None) is refused with a ControlError."""
    if value is True or value is False:
        return value
    raise ControlError(f"{label}: {shown(value)} is not on or off.")


def choice(label: str, value: Any, options: Mapping[str, T]) -> T:
    """What the label ``value`` stands for among ``options``; anything not offered is refused with a ControlError.

    Only the labels are ever looked up: a path or any other text is not a label, so it is refused the same
    way whether or not such a file exists.
    """
    if isinstance(value, str) and value in options:
        return options[value]
    raise ControlError(f"{label}: {shown(value)} is not one of the {len(options)} offered; pick one from the list.")


def guarded(action: Callable[..., Any], *args: Any) -> str:
    """Run ``action(*args)``; return "" if it worked, else one plain line saying why not.

    A ControlError gives its own message; any other error gives a fixed line, and its traceback goes to
    the server's stderr only, so neither the traceback nor what it quotes (file contents, paths) reaches the page.
    """
    try:
        action(*args)
    except ControlError as exc:
        return one_line(str(exc))
    except Exception:  # noqa: BLE001 (a handler must never send a traceback to the page)
        traceback.print_exc(file=sys.stderr)
        return UNEXPECTED
    return ""


def one_line(text: str) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space), at most LINE_CHARS long."""
    flat = " ".join(text.split())
    return flat if len(flat) <= LINE_CHARS else flat[:LINE_CHARS - 1] + "…"


def shown(value: Any) -> str:
    """A sent value as a message repeats it: quoted, escapes visible, at most SHOWN_CHARS characters."""
    text = repr(value) if isinstance(value, (str, numbers.Number)) else f"a {type(value).__name__}"
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def _number(value: Any, whole: bool) -> int | float | None:
    """``value`` as an int or a finite float, or None if it is not a number (booleans are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        x = float(value)
        return x if math.isfinite(x) else None
    if isinstance(value, str):
        text = value.strip()
        if (WHOLE if whole else DECIMAL).fullmatch(text):
            return int(text) if whole else float(text)
    return None


def _range(limit: Limit) -> str:
    number = "{:,.0f}" if limit.whole else "{:g}"
    return f"it takes {number.format(limit.low)} to {number.format(limit.high)}"
