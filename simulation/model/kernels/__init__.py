"""Compiled kernels of the weekly hot path (numba), for loops that numpy can only write as many full-size passes.

Each kernel computes exactly what the numpy expression it replaces computes, operation for operation and
in the same order (no fast-math, no reassociation; a row sum adds in numpy's own order, :func:`numpy_row_sum`),
so a run gives the same bytes with or without it; tests/test_kernels.py, test_kernels_market.py and
test_outcomes.py check each against that expression on random and real inputs. exp and power are not numpy's but
the C library's, on every machine (elementary.py): numpy's own depend on the CPU.
The kernels are compiled on first use and cached on disk (``cache=True``), so a process pays the
compilation once per machine, not once per run.

A helper called once per row or per pair of a hot loop takes values, or rows inlined by numba
(``inline="always"``), not arrays to index: numba counts references to each array a compiled helper takes,
with atomic operations it cannot drop when the helper branches, and each such call cost about 10 ns per
array (the spells' bookkeeping ran five times, the permanent pricing twice as slow).

Legend: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows, ``v`` services.

The kernels live in thirteen modules (core: shared helpers; elementary: exp and power; special: scipy's normal
CDF; choice; market; work; bookkeeping; options: the review's option pricing; review: its logit choice; providers:
the providers' week; demand; draws: those that draw from the random streams) and are all reached here, but for
prefetch: a hint to the CPU that the kernels reading scattered rows of a large market give themselves.
"""

from simulation.model.kernels.bookkeeping import (column_for, committed_hours, fill_vacancies, learn_estimates,
                                                  record_on_call_week, record_spell_week, worked_pairs)
from simulation.model.kernels.choice import (broker_ratings, brokered_mix, direct_picks, inverse_cdf_rows,
                                             logit_exponent, loyalty, onboarding_beyond_shortage, rated_cost,
                                             relative_cost_exponent, route_picks, shortlist_costs, softmax_rows)
from simulation.model.kernels.core import client_price, clip01, max0, nonprice, numpy_row_sum
from simulation.model.kernels.demand import advance_demand, realise_demand
from simulation.model.kernels.draws import draw_providers, drift_factors
from simulation.model.kernels.elementary import exp, power
from simulation.model.kernels.market import deliver_week, ration, settle_requests
from simulation.model.kernels.options import option_costs
from simulation.model.kernels.providers import book_week, market_before, week_load
from simulation.model.kernels.review import cost_logit
from simulation.model.kernels.work import (delivered_quality, learn_from_work, on_time_share, outcome_sums, reinforce,
                                           row_sums, slot_costs, split_sums, update_estimates)

__all__ = ["advance_demand", "book_week", "broker_ratings", "brokered_mix", "client_price", "clip01", "column_for",
           "committed_hours", "cost_logit", "deliver_week", "delivered_quality", "direct_picks", "draw_providers",
           "drift_factors", "exp", "fill_vacancies", "inverse_cdf_rows", "learn_estimates", "learn_from_work",
           "logit_exponent", "loyalty", "market_before", "max0", "nonprice", "numpy_row_sum", "on_time_share",
           "onboarding_beyond_shortage", "option_costs", "outcome_sums", "power", "rated_cost", "ration",
           "realise_demand", "record_on_call_week", "record_spell_week", "reinforce", "relative_cost_exponent",
           "route_picks", "row_sums", "settle_requests", "shortlist_costs", "slot_costs", "softmax_rows", "split_sums",
           "update_estimates", "week_load", "worked_pairs"]
