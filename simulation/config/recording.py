"""What a run records: the tables of a recording level (``run.record``) and the decision sample.

A run always computes the same market; the recording level only says which of its tables are kept
(docs/run-folders.md). ``full`` keeps all six, ``summary`` all but the per-review decision log,
``metrics`` the weekly metrics and the firm and provider tables only; ``auto`` is ``full`` up to
:data:`AUTO_FULL_FIRMS` firms (after ``run.scale``) and ``summary`` above, since the decision log is the
table that grows fastest with the market. ``run.record_decisions = false`` drops the decision log at
any level, and ``run.decision_sample`` / ``run.decision_firms`` keep the reviews of some firms only.
"""

from __future__ import annotations

from simulation.config.schema import Config, scaled

#: Every table of a run folder, in the order the folder lists them.
TABLES = ("metrics", "contracts", "relationships", "decisions", "firms", "providers")
#: The tables each recording level keeps.
LEVEL_TABLES = {"full": TABLES, "summary": tuple(t for t in TABLES if t != "decisions"),
                "metrics": ("metrics", "firms", "providers")}
AUTO_FULL_FIRMS = 10_000  # "auto" records in full up to this many firms, summary above


def record_level(cfg: Config) -> str:
    """``run.record`` with ``auto`` resolved: ``full`` up to 10,000 firms (after ``run.scale``), ``summary`` above."""
    if cfg.run.record != "auto":
        return cfg.run.record
    return "full" if scaled(cfg.firms.count, cfg.run.scale) <= AUTO_FULL_FIRMS else "summary"


def recorded_tables(cfg: Config) -> tuple[str, ...]:
    """The tables a run of ``cfg`` keeps: its level's, without decisions when ``run.record_decisions`` is false."""
    return tuple(t for t in LEVEL_TABLES[record_level(cfg)] if t != "decisions" or cfg.run.record_decisions)


def decision_firm_count(cfg: Config) -> int | None:
    """How many firms' reviews the decision log keeps when it keeps some only (``None``: every firm's).

    ``run.decision_firms`` names them; ``run.decision_sample`` keeps that share of the firms, rounded
    (halves up), and at least one.
    """
    if cfg.run.decision_firms is not None:
        return len(cfg.run.decision_firms)
    if cfg.run.decision_sample >= 1:
        return None
    firms = scaled(cfg.firms.count, cfg.run.scale)
    return min(firms, scaled(firms, cfg.run.decision_sample))  # rounded as any count in a scaled market
