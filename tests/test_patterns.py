"""Pattern tests: the economic regularities P1 (the WKH limit), P2 (specificity) and P3 (volatility) appear in seeded runs.

Every tolerance below was set from measured seed-to-seed spread, and each comment says why it is
that wide. Runs use a scaled-down baseline (300 firms, 30 BPO, 12 KPO) so the file stays fast. P6-P9
run on the shipped scenario files in test_scenario_patterns.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import measures as M
from analysis import wkh
from analysis.stats import window_mean
from simulation import load_scenario, run

from conftest import BASELINE, SMALL, WKH

SEEDS = (1, 2, 3)

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- P1: WKH limit
GAMMA, PI = 0.1, 0.5  # wkh.toml: gamma = 0.1; payoff pi = shortage cost 1.0 - price 13 / in-house cost 26


def mean_field_y(n: int, beta: float, ordered: bool) -> float:
    """The mean-field loyalty of analysis/wkh.py at one beta, from a loyal or a symmetric start."""
    return float(wkh.mean_field_y(n, [beta], GAMMA, PI, loyal=ordered)[0])


def disordered_y(n: int, beta: float) -> float:
    """The finite-memory loyalty below the transition of analysis/wkh.py: with one purchase a week,
    E[y] = 1/n + (1 - 1/n) gamma / (2 - gamma) at beta = 0, the excess divided by (1 - beta / beta_c)."""
    return float(wkh.disordered_y(n, [beta], GAMMA, PI)[0])


def measured_y(n: int, beta: float, **overrides) -> float:
    """Mean loyalty over the last 200 of 400 weeks, averaged over three seeds."""
    cfg = load_scenario(WKH, {"providers.bpo_count": n, "choice.beta": beta, **overrides})
    return float(np.mean([run(cfg, seed=s).metrics["loyalty_mean"].iloc[-200:].mean() for s in SEEDS]))


def test_mean_field_solver_matches_the_known_n2_solution():
    """The mean-field solver agrees with gamma D = pi tanh(beta D / 2) for n = 2 and gives 1/n below beta_c."""
    beta = 1.0
    D = 1.0
    for _ in range(500):
        D = PI * np.tanh(beta * D / 2) / GAMMA
    p1 = 0.5 * (1 + GAMMA * D / PI)
    assert mean_field_y(2, beta, ordered=False) == pytest.approx(p1**2 + (1 - p1) ** 2, abs=1e-6)
    assert mean_field_y(3, 0.3, ordered=False) == pytest.approx(1 / 3, abs=1e-6)


@pytest.mark.parametrize("n, beta", [(2, 0.2), (3, 0.3)])
def test_p1_below_transition_loyalty_stays_near_one_over_n(n, beta):
    """At beta = beta_c / 2, measured y matches the finite-memory disordered value near 1/n."""
    y = measured_y(n, beta)
    # Seed-to-seed sd of the 200-week mean is about 0.002; 0.015 also allows for the linear-response
    # approximation (measured 3-seed means: 0.549 vs 0.553 for n = 2, 0.405 vs 0.403 for n = 3).
    assert y == pytest.approx(disordered_y(n, beta), abs=0.015)
    assert y < 1.0 / n + 0.1  # and clearly not loyal


@pytest.mark.parametrize("n, beta", [(2, 1.2), (2, 2.0), (3, 1.8), (3, 3.0)])
def test_p1_above_transition_loyalty_follows_mean_field(n, beta):
    """At 3 to 5 times beta_c, measured y sits on the ordered mean-field branch."""
    assert beta >= 3 * n * GAMMA / PI - 1e-9
    y = measured_y(n, beta)
    # Finite memory makes loyal firms still visit others now and then, so y falls short of the
    # mean field by O(gamma); measured 3-seed means: n=2: 0.976 (mf 0.995), 0.995 (1.000);
    # n=3 at beta 1.5-2.5: 0.978-0.994 (mf 0.998-1.000). 0.03 is about 1.5x the largest gap.
    assert y == pytest.approx(mean_field_y(n, beta, ordered=True), abs=0.03)


@pytest.mark.parametrize("n, factor, tolerance", [(2, 1.1, 0.075), (2, 1.25, 0.025), (2, 1.5, 0.025),
                                                   (3, 1.1, 0.075), (3, 1.25, 0.025), (3, 1.5, 0.025)])
def test_p1_just_above_the_transition_loyalty_follows_mean_field(n, factor, tolerance):
    """At 1.1 to 1.5 times beta_c, with identical firms, measured y follows the mean field's ordered branch."""
    beta = factor * n * GAMMA / PI
    y = measured_y(n, beta)
    # Measured 3-seed means minus the mean field: n = 2: +0.055 (1.1 beta_c), -0.003 (1.25), -0.010 (1.5);
    # n = 3: -0.033, -0.008, 0.000; seed-to-seed sd 0.005. Near beta_c the fluctuations of J that the mean field
    # leaves out are largest (y has a critical point there), so 1.1 beta_c gets 0.075 (1.4x the largest
    # measured gap) and the others 0.025 (2.5x theirs).
    assert y == pytest.approx(mean_field_y(n, beta, ordered=True), abs=tolerance)


def test_p1_a_loyal_start_shows_the_n3_hysteresis_below_beta_c():
    """Just below beta_c (0.95 beta_c), n = 3 firms that start loyal (J = pi / gamma on one provider) stay on the
    mean field's ordered branch while firms that start symmetric stay searchers: two states at one beta. For
    n = 2 the transition is continuous, and the two starts end close together."""
    gamma = 0.02  # a long memory, so that the noise of finite memory does not wash the two states out in 400 weeks
    loyal_start = {"choice.gamma": gamma, "choice.initial_preference": PI / gamma}
    symmetric_start = {"choice.gamma": gamma, "choice.initial_preference": 0.0}
    gaps = {}
    for n in (2, 3):
        beta = 0.95 * n * gamma / PI
        gaps[n] = measured_y(n, beta, **loyal_start) - measured_y(n, beta, **symmetric_start)
    ordered = float(wkh.mean_field_y(3, [0.95 * 3 * gamma / PI], gamma, PI, loyal=True)[0])
    # Measured (seeds 1-3): n = 3: 0.646-0.652 from a loyal start (mean-field ordered branch 0.581) and 0.396-0.403
    # from a symmetric start (mean field 1/3): a gap of 0.25; n = 2: 0.60 vs 0.53, a gap of 0.07 (slow relaxation
    # near a continuous transition). The n = 3 gap must be over half the measured one and over twice n = 2's.
    assert gaps[3] > 0.15 and gaps[3] > 2 * gaps[2]
    assert measured_y(3, 0.95 * 3 * gamma / PI, **loyal_start) > ordered - 0.03


# ----------------------------------------------------------------------------- P2: specificity
def test_p2_stronger_learning_raises_permanent_share_and_relationship_length():
    """All else equal (same seeds), doubling relationship learning vs none raises permanent share and spell length."""
    diffs_share, diffs_kpo, diffs_len = [], [], []
    for seed in SEEDS:
        out = {}
        for mult in (0.0, 2.0):
            r = run(load_scenario(BASELINE, {**SMALL, "contracts.learning_multiplier": mult, "run.steps": 400}), seed=seed)
            perm = r.relationships[r.relationships["form"] == "permanent"]
            shares = window_mean(r.metrics, (201, 400), ["permanent_share", "permanent_share_kpo"])
            out[mult] = (shares["permanent_share"], shares["permanent_share_kpo"], perm["weeks"].mean())
        diffs_share.append(out[2.0][0] - out[0.0][0])
        diffs_kpo.append(out[2.0][1] - out[0.0][1])
        diffs_len.append(out[2.0][2] - out[0.0][2])
    # Measured (seeds 1-3): share +0.044, +0.051, +0.042 overall and +0.094, +0.057, +0.094 for KPO (where
    # learning is strong, but KPO volume is small, so its share is noisier); permanent spells +34 to +40
    # weeks. Seed-to-seed noise of a 200-week mean is about 0.01 overall and 0.03 for KPO, so every seed
    # must move the right way and each mean must clear about half the measured effect.
    assert min(diffs_share) > 0 and np.mean(diffs_share) > 0.02
    assert min(diffs_kpo) > 0 and np.mean(diffs_kpo) > 0.03
    assert min(diffs_len) > 0 and np.mean(diffs_len) > 10.0


def renewal_rates(result, window: tuple[int, int]) -> dict[str, float]:
    """Share of term ends in ``window`` at which the client kept its provider (analysis.measures.renewal_rates), by kind."""
    c = result.contracts
    kind = c["service"].map(lambda s: result.config.services[s].kind.value)
    return M.renewal_rates(c.assign(kind=kind), window=window).set_index("kind")["rate"].to_dict()


def test_p2_kpo_relationships_are_renewed_more_often_than_bpo_in_the_baseline():
    """Across 5 seeds of the full baseline, the KPO renewal rate at term end over the last five years exceeds the BPO
    one in every seed. The last five years, as in the calibration table: the market starts without contracts, so
    the first KPO contracts, all signed in the first weeks of the warm-up, end together in week 112."""
    cfg = load_scenario(BASELINE)
    gaps = []
    for seed in range(1, 6):
        rates = renewal_rates(run(cfg, seed=seed), (261, 520))
        gaps.append(rates["kpo"] - rates["bpo"])
    # Measured (seeds 1-5): KPO 0.785-0.850 vs BPO 0.735-0.749, gaps +0.081, +0.097, +0.039, +0.088, +0.114, with
    # about 600 term ends per kind (binomial sd of a gap about 0.025): a positive gap in every seed and a mean
    # above 0.04 (half the measured mean) is not luck.
    assert min(gaps) > 0 and np.mean(gaps) > 0.04


# ----------------------------------------------------------------------------- P3: volatility
def test_p3_more_demand_volatility_lowers_the_permanent_share():
    """All else equal, weekly demand volatility 0.4 gives a lower permanent share than 0.05, in every seed."""
    gaps = []
    for seed in SEEDS:
        runs = [run(load_scenario(BASELINE, {**SMALL, "firms.demand_volatility": v, "run.steps": 400}), seed=seed)
                for v in (0.05, 0.4)]
        shares = [window_mean(r.metrics, (201, 400), ["permanent_share"])["permanent_share"] for r in runs]
        gaps.append(shares[0] - shares[1])
    # Measured gaps (seeds 1-3): 0.22, 0.19, 0.15 (e.g. 0.521 vs 0.299). A floor of 0.08 is well clear of
    # seed noise (< 0.02) while still failing if the take-or-pay mechanism weakens to a third of its size.
    assert min(gaps) > 0.08
