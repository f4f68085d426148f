"""Typed configuration of an outsim run: the only place where defaults live.

Every parameter has a default, a description and a unit (``json_schema_extra={"unit": ...}``).
Scenario files (TOML) override only what differs; :func:`simulation.scenario.load_scenario`
merges them onto these defaults and validates the result. Unknown keys are rejected
(``extra="forbid"``) so that a misspelled key never silently falls back to a default.

Units used throughout: money in currency units (cu) of the home (domestic) region, work volume
in hours, time in weeks.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

__all__ = ["ChoiceConfig", "Config", "ContractConfig", "EnvironmentConfig", "EventAction", "EventConfig", "FirmConfig",
           "IntermediaryConfig", "EVENT_TYPES", "MarketEvent", "NegotiationConfig", "ParameterEvent", "PriceHikeEvent",
           "ProviderConfig", "ProviderFailureEvent", "RegionConfig", "RunConfig", "ServiceConfig", "ServiceKind",
           "scaled"]


def P(default: Any, unit: str, description: str, **constraints: Any) -> Any:
    """A documented parameter: default, unit and description in one place."""
    return Field(default, description=description, json_schema_extra={"unit": unit}, **constraints)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
FirmId = Annotated[int, Field(ge=0, strict=True)]  # strict: true/false or 3.0 is not a firm id
RecordLevel = Literal["auto", "full", "summary", "metrics"]  # run.record (simulation/config/recording.py)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """true/false is not a number (pydantic would read it as 1/0): ``firms.count = true`` is a mistake."""
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in (int, float):
            raise ValueError(f"must be a number, not {str(value).lower()}")
        return value


class ServiceKind(StrEnum):
    """Service kind: task completion (BPO) or expertise (KPO)."""

    BPO = "bpo"
    KPO = "kpo"


class ServiceConfig(_Section):
    """One catalogue entry: a kind of work that firms buy."""

    kind: ServiceKind = P(ServiceKind.BPO, "-", "bpo (task completion) or kpo (expertise).")
    skill_level: int = P(1, "level 1-5", "Skill the work requires; sets wage premium and scarcity.", ge=1, le=5)
    inhouse_cost_per_hour: float = P(30.0, "cu/hour", "Firm's own fully loaded cost of one hour of this work.", gt=0)
    demand_hours_per_size: float = P(40.0, "hours/week per size unit", "Mean weekly demand of a firm of size 1.", gt=0)
    adoption_probability: Share = P(0.5, "probability", "Chance that a given firm needs this service at all.")
    onboarding_cost_weeks: float = P(0.5, "weeks of demand at in-house cost", "Knowledge-transfer cost paid by the firm when it starts with a new provider.", ge=0)
    inhouse_switch_cost_weeks: float = P(6.0, "weeks of demand at in-house cost", "Cost of (re)building in-house staff when a firm brings this work back in-house.", ge=0)
    friction_share: float = P(0.10, "share of in-house cost/hour", "Coordination cost of outsourced work per hour, before learning.", ge=0, le=2)
    error_cost_share: float = P(0.5, "share of in-house cost/hour", "Cost of one hour of work delivered at quality 0 instead of 1.", ge=0, le=5)
    learning_strength: Share = P(0.3, "share of friction", "Share of the friction that full relationship-specific experience removes.")
    project_rate_per_week: float = P(0.0, "projects/week", "Arrival rate of projects (KPO work typically comes in projects); 0 means steady demand every week.", ge=0)
    project_mean_weeks: float = P(12.0, "weeks", "Mean length of a project (geometric).", ge=1)


def _default_services() -> dict[str, ServiceConfig]:
    bpo = dict(kind=ServiceKind.BPO, onboarding_cost_weeks=1.0, inhouse_switch_cost_weeks=6.0, friction_share=0.10, error_cost_share=0.5, learning_strength=0.3)
    kpo = dict(kind=ServiceKind.KPO, onboarding_cost_weeks=8.0, inhouse_switch_cost_weeks=26.0, friction_share=0.25, error_cost_share=1.0, learning_strength=0.8,
               project_rate_per_week=0.25, project_mean_weeks=16.0)
    return {
        "customer_service": ServiceConfig(**bpo, skill_level=1, inhouse_cost_per_hour=26.0, demand_hours_per_size=60.0, adoption_probability=0.7),
        "back_office": ServiceConfig(**bpo, skill_level=2, inhouse_cost_per_hour=30.0, demand_hours_per_size=40.0, adoption_probability=0.6),
        "components": ServiceConfig(**bpo, skill_level=2, inhouse_cost_per_hour=32.0, demand_hours_per_size=50.0, adoption_probability=0.4),
        "data_analysis": ServiceConfig(**kpo, skill_level=3, inhouse_cost_per_hour=70.0, demand_hours_per_size=20.0, adoption_probability=0.5),
        "research": ServiceConfig(**kpo, skill_level=4, inhouse_cost_per_hour=85.0, demand_hours_per_size=15.0, adoption_probability=0.3),
        "risk_analysis": ServiceConfig(**kpo, skill_level=5, inhouse_cost_per_hour=100.0, demand_hours_per_size=12.0, adoption_probability=0.3),
    }


class RunConfig(_Section):
    """Horizon and bookkeeping of one run."""

    steps: int = P(520, "weeks", "Number of weekly steps.", ge=1, le=100_000)
    warmup_weeks: int = P(52, "weeks", "Weeks the market runs in the conditions of week 0 before week 1, so the run starts from an established market rather than from its initial draw (not recorded, except the contracts and relationships they leave).", ge=0, le=2_000)
    record_decisions: bool = P(True, "-", "Keep the sourcing reviews (options, costs, choice) in decisions.parquet; false drops them at any record level.")
    record: RecordLevel = P("auto", "-", "Tables the run keeps: full (all six), summary (all but decisions.parquet, the per-review log), metrics (metrics, firms and providers only), or auto: full up to 10,000 firms (after run.scale), summary above. A table not kept is written empty with its columns, and manifest.json names the level.")
    decision_sample: float = P(1.0, "share of firms", "Keep the sourcing reviews of this random share of the firms only, drawn from a random stream of its own: the sample changes no other output.", gt=0, le=1)
    decision_firms: Annotated[list[FirmId], Field(min_length=1, max_length=1_000_000)] | None = P(None, "firm ids", "Keep the sourcing reviews of these firms only (ids 0 to the number of firms - 1, each once), instead of a decision_sample.")

    @field_validator("decision_firms")
    @classmethod
    def _each_firm_once(cls, ids: list[int] | None) -> list[int] | None:
        if ids is not None and (twice := sorted(i for i, n in Counter(ids).items() if n > 1)):
            raise ValueError(f"firm id(s) {', '.join(map(str, twice[:5]))} given more than once")
        return ids
    scale: float = P(1.0, "x", "Size of the market: multiplies the number of firms, BPO providers, KPO specialists and brokers, the talent pools, the entry rate and the providers hit by market events, so shares stay comparable.", gt=0, le=1000)


def scaled(count: int, scale: float) -> int:
    """A count of agents in a market of size ``scale`` (at least 1 where the count is positive)."""
    return 0 if count <= 0 else max(1, int(math.floor(count * scale + 0.5)))  # halves round up


class FirmConfig(_Section):
    """Client firms: how many, how big, how they decide."""

    count: int = P(1000, "firms", "Number of client firms.", ge=1)
    size_log_mean: float = P(0.0, "log size units", "Mean of log firm size (lognormal).")
    size_log_sd: float = P(0.9, "log size units", "Standard deviation of log firm size.", ge=0, le=5)
    inhouse_scale_elasticity: float = P(0.08, "elasticity", "In-house cost per hour falls with firm size as size^-elasticity (scale economies).", ge=0, le=1)
    inhouse_cost_dispersion: float = P(0.25, "log sd", "Firm-specific log deviation of in-house cost (some firms are good at it).", ge=0, le=2)
    inhouse_cost_drift: float = P(0.0, "log sd/sqrt(year)", "Yearly sd of a mean-preserving random walk in each firm-service's in-house cost (its own capabilities change over time).", ge=0, le=1)
    offshore_home_share: Share = P(0.0, "share of firms", "Firms whose home region is offshore.")
    coordination_dispersion: float = P(0.6, "log sd", "Firm-specific log deviation of the coordination cost of work done in the other region (mean 1): some firms work across borders easily.", ge=0, le=3)
    domestic_only_share: Share = P(0.15, "share of firms", "Firms whose work may not leave their home region (data residency): they use providers of their own region only.")
    initial_in_house_share: Share = P(0.3, "share of firm-services", "Firm-services that start in-house; the rest start on-call.")
    review_interval_weeks: int = P(13, "weeks", "Time between sourcing reviews of one firm-service (staggered).", ge=1)
    sourcing_choice_intensity: float = P(30.0, "1/relative cost", "Logit intensity of the sourcing-mode choice over relative weekly costs.", ge=0)
    shortage_penalty_factor: float = P(1.5, "x in-house cost/hour", "Cost of one hour of unmet demand, relative to in-house cost.", ge=0)
    direct_management_cost_per_week: float = P(60.0, "cu/week", "Fixed cost of managing outsourced work directly (search, vendor management); a broker saves it.", ge=0)
    demand_volatility: float = P(0.15, "log sd/week", "Weekly sd of the firm-specific demand shock (AR(1) in logs).", ge=0, le=3)
    volatility_size_elasticity: float = P(0.0, "elasticity", "Demand volatility falls with firm size as (size / median size)^-elasticity: a small firm's needs swing more.", ge=0, le=1)
    demand_persistence: Share = P(0.8, "AR(1) coefficient", "Persistence of the firm-specific demand shock.")
    spell_gap_weeks: int = P(8, "weeks", "Weeks without on-call work after which a relationship spell ends.", ge=1)
    knowledge_memory_weeks: int = P(26, "weeks", "Weeks without work after which a provider has forgotten a client and must be onboarded again.", ge=1)
    estimate_memory_weeks: float = P(26.0, "weeks", "Time constant of firms' running estimates (demand, prices, fill rate).", ge=1)


class ChoiceConfig(_Section):
    """Provider choice: Weisbuch, Kirman & Herreiner (2000)."""

    beta: float = P(1.5, "1/payoff", "Choice intensity of the logit over preferences J.", ge=0)
    gamma: float = P(0.1, "1/week", "Memory decay of J: J <- (1 - gamma) J + payoff.", gt=0, le=1)
    consideration_set_size: int = P(4, "providers", "Providers a firm knows per service.", ge=1, le=50)
    exploration_probability: Share = P(0.01, "probability/week", "Chance a firm-service replaces its least preferred known provider by a random one.")
    spot_rounds: int = P(2, "rounds", "Rounds of on-call requests per week (unserved work tries another provider).", ge=1, le=5)
    initial_preference: float = P(0.0, "payoff units", "Preference J each firm-service starts with for the first provider of its consideration set (0: no prior; pi / gamma starts every firm on the WKH loyal branch).", ge=0)


class ContractConfig(_Section):
    """Permanent contracts: terms and learning (hold-up) mechanism."""

    allow_permanent: bool = P(True, "-", "Whether permanent contracts can be signed at all.")
    allow_in_house: bool = P(True, "-", "Whether firms may keep work in-house.")
    term_weeks_bpo: int = P(104, "weeks", "Term of a permanent BPO contract.", ge=1)
    term_weeks_kpo: int = P(156, "weeks", "Term of a permanent KPO contract.", ge=1)
    tender_cost: float = P(0.0, "cu", "One-off cost of tendering for and negotiating a new permanent contract (specification, legal, due diligence), paid by the firm; renewing with the incumbent skips it.", ge=0)
    early_exit_fee_weeks: float = P(13.0, "weeks of reserved fee", "Fee (payment in lieu of notice) owed when a firm ends a contract early.", ge=0)
    learning_rate_per_week: Share = P(0.02, "1/week", "Speed at which a dedicated team builds client-specific experience.")
    on_call_learning_fraction: Share = P(0.1, "share of learning rate", "Experience built by shared-pool on-call work, relative to a dedicated team (it fades at the same time: on-call work alone holds experience near fraction x rate / (rate x fraction + decay)).")
    experience_decay_per_week: Share = P(0.05, "1/week", "Weekly fade of experience once no dedicated team serves the client (the team is reassigned when its contract ends, even if on-call work goes on).")
    pool_rotation: Share = P(0.0, "share of on-call hours/week", "Share of a client's on-call hours a provider's shared pool gives each week to staff new to the client, who must be onboarded (a dedicated team under contract needs none).")
    onboarding_multiplier: float = P(1.0, "x", "Scales every service's onboarding cost (asset specificity: what a provider must learn of a client).", ge=0, le=10)
    learning_multiplier: float = P(1.0, "x", "Scales every service's learning strength (pattern P2 experiments).", ge=0, le=5)


class NegotiationConfig(_Section):
    """Nash split between reservation prices."""

    min_margin: float = P(0.12, "share of unit cost", "Provider's minimum margin over unit cost.", ge=0, le=2)
    guaranteed_load_value: Share = P(0.15, "share of unit cost", "Discount a provider grants for guaranteed load when fully idle (scaled by idle share).")
    base_power: Share = P(0.5, "share", "Provider's bargaining power in a balanced market.")
    tightness_weight: float = P(1.0, "power per utilisation point", "Rise of provider power with market utilisation above target.", ge=0)
    scarcity_weight: float = P(0.2, "power per skill step", "Rise of provider power with skill scarcity ((skill - 1)/4).", ge=0)


class ProviderConfig(_Section):
    """BPO providers and KPO specialists: capacity, pricing, entry and exit."""

    bpo_count: int = P(100, "providers", "Initial BPO providers.", ge=0)
    kpo_count: int = P(40, "specialists", "Initial KPO specialists.", ge=0)
    offshore_share: Share = P(0.4, "share of providers", "Providers located offshore.")
    services_per_bpo: int = P(2, "services", "BPO services each BPO provider offers (at most the BPO catalogue).", ge=1)
    services_per_kpo: int = P(1, "services", "KPO services each specialist offers.", ge=1)
    initial_capacity_ratio: float = P(1.15, "x expected outsourced demand / target utilisation", "Initial capacity relative to what the demand outsourced at the start needs at the target utilisation.", gt=0)
    productivity_bpo: float = P(1.3, "x", "Hours of output per paid hour in BPO (capacity pooling across clients).", gt=0)
    productivity_kpo: float = P(1.0, "x", "Hours of output per paid hour in KPO.", gt=0)
    skill_wage_premium: float = P(1.3, "x per skill level", "Wage multiplier per skill level above 1.", ge=1)
    normal_markup_bpo: float = P(0.35, "share of unit cost", "Spot markup of BPO providers at the start, and where it returns to when their utilisation is at target (break-even at target utilisation is 1/u - 1).", ge=0)
    normal_markup_kpo: float = P(0.60, "share of unit cost", "Spot markup of KPO specialists at the start and at target utilisation.", ge=0)
    markup_min: float = P(0.02, "share of unit cost", "Lowest spot markup.", ge=-0.5)
    markup_max: float = P(1.5, "share of unit cost", "Highest spot markup.", ge=0)
    markup_speed: float = P(0.02, "markup per utilisation point/week", "Weekly markup change per point of utilisation above target.", ge=0)
    markup_reversion: Share = P(0.05, "share/week", "Weekly pull of the spot markup back toward the normal markup (competition): at a steady utilisation u the markup settles at normal + markup_speed / markup_reversion x (u - target).")
    target_utilization_bpo: Share = P(0.82, "share", "Utilisation BPO providers aim for.")
    target_utilization_kpo: Share = P(0.70, "share", "Billable utilisation KPO specialists aim for.")
    hiring_lag_weeks_bpo: float = P(8.0, "weeks", "Time constant of BPO capacity adjustment.", ge=1)
    hiring_lag_weeks_kpo: float = P(26.0, "weeks", "Time constant of KPO capacity adjustment.", ge=1)
    downsizing_lag_weeks: float = P(8.0, "weeks", "Time constant of capacity cuts (staff leave through attrition, not at once).", ge=1)
    reliability_mean_bpo: Share = P(0.92, "quality 0-1", "Mean base quality of BPO providers.")
    reliability_mean_kpo: Share = P(0.85, "quality 0-1", "Mean base quality of KPO specialists.")
    reliability_sd: float = P(0.04, "quality", "Spread of base quality across providers (KPO: twice this).", ge=0, le=0.5)
    quality_noise_sd: float = P(0.03, "quality", "Weekly noise of realised quality.", ge=0, le=0.5)
    late_base_rate: Share = P(0.05, "share of hours", "Share of hours delivered late at normal load by a provider with no experience of the client.")
    overload_lateness: float = P(1.0, "late share per utilisation point", "Extra late share per point of utilisation above the overload threshold.", ge=0)
    overload_threshold: Share = P(0.9, "utilisation", "Utilisation above which quality falls.")
    overload_quality_loss: float = P(0.5, "quality per utilisation point", "Quality lost per point of utilisation above the threshold.", ge=0)
    exit_enabled: bool = P(True, "-", "Providers exit after sustained losses.")
    exit_loss_weeks: int = P(26, "weeks", "Consecutive loss-making weeks that force an exit.", ge=1)
    entry_enabled: bool = P(True, "-", "New providers enter where margins are high.")
    entry_margin: float = P(0.15, "share of revenue", "Margin of a service's providers together (running profit over running revenue) above which entry happens.", ge=0)
    entry_probability: float = P(0.05, "entrants/week", "Expected entrants a week into a service whose providers earn high margins (Poisson; in a market of scale 1, in proportion to the scale).", ge=0, le=10)
    profit_memory_weeks: float = P(13.0, "weeks", "Time constant of providers' running profit and demand estimates.", ge=1)
    fixed_price: bool = P(False, "-", "Freeze spot prices at their initial level (validation cases).")


class RegionConfig(_Section):
    """A labour market: wages, their growth and the exchange rate."""

    wage_per_hour: float = P(24.0, "cu/hour (local wage x exchange rate)", "Provider wage per paid hour at skill 1, in home currency at the initial exchange rate.", gt=0)
    wage_growth_per_year: float = P(0.04, "1/year", "Annual growth of the regional wage index.", ge=-0.5, le=1)
    exchange_rate: float = P(1.0, "home cu per local cu (relative)", "Exchange rate index; provider costs in home currency scale with it.", gt=0)
    coordination_cost_per_hour: float = P(0.0, "cu/hour at skill 1", "Extra cost per hour of serving a client in the other region (x skill wage premium).", ge=0)
    kpo_compliance_cost_per_hour: float = P(0.0, "cu/hour", "Extra cost per hour of KPO work done here for clients in the other region (e.g. a data-protection rule).", ge=0)
    reliability_offset: float = P(0.0, "quality", "Added to the base quality of providers located in the region.", ge=-0.5, le=0.5)
    talent_pool_hours: float = P(20000.0, "hours/week of capacity", "KPO talent available for hire in the region.", ge=0)
    talent_pool_refill_per_week: Share = P(0.01, "share of pool/week", "Rate at which the talent pool refills toward its size.")


def _default_regions() -> dict[str, RegionConfig]:
    return {
        "domestic": RegionConfig(wage_per_hour=20.0, wage_growth_per_year=0.04, coordination_cost_per_hour=0.0, talent_pool_hours=12000.0),
        "offshore": RegionConfig(wage_per_hour=7.0, wage_growth_per_year=0.08, coordination_cost_per_hour=12.0, reliability_offset=-0.05, talent_pool_hours=8000.0),
    }


class IntermediaryConfig(_Section):
    """Brokers that match firms with providers for a fee."""

    count: int = P(3, "brokers", "Number of intermediaries (0 disables the broker channel).", ge=0)
    fee_rate: float = P(0.08, "share of payment", "Fee a broker adds to what the firm pays the provider.", ge=0, le=1)
    learning_rate: Share = P(0.1, "1/observation", "Weight of each client outcome in a broker's quality estimate.")
    choice_intensity: float = P(30.0, "1/relative cost", "Logit intensity of the broker's provider pick.", ge=0)
    reassign_probability: Share = P(0.05, "probability/week", "Chance a broker re-picks the provider for a client it already routes to one.")
    panel_size: int | None = P(None, "providers per service", "How many providers a broker rates per service and client group. 0: every provider. A positive number: a shortlist of the ones it rates cheapest, re-rated every review interval and when one leaves (all of them where they fit), so a broker's work per pick stays the same however large the market. Unset: every provider while the market starts with at most 1,000 providers, shortlists of 100 above.", ge=0, le=100_000)


class EnvironmentConfig(_Section):
    """Business cycle and demand level."""

    demand_multiplier: float = P(1.0, "x", "Level of demand across the economy (recessions multiply it).", ge=0)
    demand_trend_per_year: float = P(0.02, "1/year", "Trend growth of demand.", ge=-0.5, le=1)
    cycle_amplitude: Share = P(0.03, "share", "Amplitude of the sinusoidal business cycle.")
    cycle_period_weeks: float = P(260.0, "weeks", "Period of the business cycle.", gt=0)
    shock_volatility_multiplier: float = P(1.0, "x", "Scales firms' demand volatility (uncertainty shocks).", ge=0)


class EventAction(StrEnum):
    """What a scenario event does: change a parameter (set, multiply, add) or hit the market."""

    SET = "set"
    MULTIPLY = "multiply"
    ADD = "add"
    PRICE_HIKE = "price_hike"
    PROVIDER_FAILURE = "provider_failure"


class ParameterEvent(_Section):
    """A timed change to any numeric parameter, applied by the Environment at the start of the week."""

    at: int = P(0, "week", "Week the change starts.", ge=0)
    action: Literal[EventAction.SET, EventAction.MULTIPLY, EventAction.ADD] = P(EventAction.SET, "-", "set, multiply or add.")
    target: str = P("environment.demand_multiplier", "dotted key", "Parameter to change, e.g. regions.offshore.wage_growth_per_year.")
    value: float = P(1.0, "unit of the target", "Value to set, multiply by or add.")
    ramp_weeks: int = P(0, "weeks", "Spread the change linearly over this many weeks.", ge=0)


class PriceHikeEvent(_Section):
    """The largest providers raise all their prices: spot prices at once, contract prices as they are renegotiated."""

    at: int = P(1, "week", "Week of the hike (applied in the providers' phase of that week).", ge=1)
    action: Literal[EventAction.PRICE_HIKE] = P(EventAction.PRICE_HIKE, "-", "price_hike.")
    providers: int = P(1, "providers", "How many of the largest active providers (by capacity) raise their prices.", ge=1)
    rise: float = P(0.1, "share of price", "Rise of their spot prices and of the lowest contract price they accept.", ge=0, le=10)


class ProviderFailureEvent(_Section):
    """The largest providers fail and leave at once: their contracts end and their clients re-source."""

    at: int = P(1, "week", "Week of the failure (applied in the providers' phase of that week).", ge=1)
    action: Literal[EventAction.PROVIDER_FAILURE] = P(EventAction.PROVIDER_FAILURE, "-", "provider_failure.")
    providers: int = P(1, "providers", "How many of the largest active providers (by capacity) fail.", ge=1)


EVENT_TYPES: dict[str, type[_Section]] = {"parameter": ParameterEvent, EventAction.PRICE_HIKE.value: PriceHikeEvent,
                                          EventAction.PROVIDER_FAILURE.value: ProviderFailureEvent}
MarketEvent = PriceHikeEvent | ProviderFailureEvent


def _event_type(event: Any) -> str:
    """Which event class a raw or built event is: its action names it; set, multiply, add or none is a parameter event."""
    action = event.get("action") if isinstance(event, dict) else getattr(event, "action", None)
    return str(action) if str(action) in EVENT_TYPES else "parameter"


EventConfig = Annotated[
    Annotated[ParameterEvent, Tag("parameter")] | Annotated[PriceHikeEvent, Tag(EventAction.PRICE_HIKE.value)]
    | Annotated[ProviderFailureEvent, Tag(EventAction.PROVIDER_FAILURE.value)],
    Discriminator(_event_type),
]


class Config(_Section):
    """A whole outsim scenario."""

    name: str = P("baseline", "-", "Scenario name (used for the output folder): letters, digits, '_', '-' and '.', not starting with '.'.",
                  max_length=100)
    description: str = P("", "-", "What the scenario asks.", max_length=2000)
    tags: list[Annotated[str, Field(max_length=50)]] = P([], "-", "Labels for listing scenarios.", max_length=20)
    run: RunConfig = Field(default_factory=RunConfig)
    firms: FirmConfig = Field(default_factory=FirmConfig)
    choice: ChoiceConfig = Field(default_factory=ChoiceConfig)
    contracts: ContractConfig = Field(default_factory=ContractConfig)
    negotiation: NegotiationConfig = Field(default_factory=NegotiationConfig)
    providers: ProviderConfig = Field(default_factory=ProviderConfig)
    intermediaries: IntermediaryConfig = Field(default_factory=IntermediaryConfig)
    environment: EnvironmentConfig = Field(default_factory=EnvironmentConfig)
    services: dict[str, ServiceConfig] = Field(default_factory=_default_services, description="Service catalogue by name (a table naming only new services replaces it).")
    regions: dict[str, RegionConfig] = Field(default_factory=_default_regions, description="Regions by name: domestic and offshore.")
    events: list[EventConfig] = Field(default_factory=list, description="Timed scenario events.")

    @model_validator(mode="before")
    @classmethod
    def _merge_tables(cls, data: Any) -> Any:
        """Partial region and service tables override the defaults field by field.

        A ``services`` table that names only new services replaces the catalogue (a custom market);
        one that names default services overrides just the fields it gives.
        """
        if not isinstance(data, dict):
            return data
        data = dict(data)
        regions = data.get("regions")
        if isinstance(regions, dict):
            base = {k: v.model_dump() for k, v in _default_regions().items()}
            data["regions"] = {k: ({**base[k], **v} if k in base and isinstance(v, dict) else v) for k, v in
                               {**base, **regions}.items()}
        services = data.get("services")
        if isinstance(services, dict):
            base = {k: v.model_dump() for k, v in _default_services().items()}
            if set(services) & set(base):
                data["services"] = {k: ({**base[k], **v} if k in base and isinstance(v, dict) else v) for k, v in
                                    {**base, **services}.items()}
        return data

    @model_validator(mode="after")
    def _check_catalogue(self) -> "Config":
        # Messages start with the dotted key they are about, so errors can name it.
        if not self.services:
            raise ValueError("services: at least one service is required")
        if set(self.regions) != {"domestic", "offshore"}:
            raise ValueError(f"regions: must be exactly 'domestic' and 'offshore', got {sorted(self.regions)}")
        kinds = {s.kind for s in self.services.values()}
        if ServiceKind.BPO in kinds and self.providers.bpo_count == 0:
            raise ValueError("providers.bpo_count: must be at least 1 when the catalogue has BPO services")
        if ServiceKind.KPO in kinds and self.providers.kpo_count == 0:
            raise ValueError("providers.kpo_count: must be at least 1 when the catalogue has KPO services")
        return self

    @model_validator(mode="after")
    def _check_decision_firms(self) -> "Config":
        """Named firms must be firms of the market the run builds (after run.scale), and exclude a sampled share."""
        ids, firms = self.run.decision_firms, scaled(self.firms.count, self.run.scale)
        if ids is not None and self.run.decision_sample < 1:
            raise ValueError("run.decision_firms: give run.decision_firms or run.decision_sample, not both")
        if ids is not None and (outside := sorted(i for i in ids if i >= firms)):
            raise ValueError(f"run.decision_firms: firm id(s) {', '.join(map(str, outside[:5]))} not in the market: "
                             f"it has {firms:,} firms, ids 0 to {firms - 1:,}")
        return self

    @field_validator("name")
    @classmethod
    def _folder_safe_name(cls, name: str) -> str:
        """The name becomes a folder under outputs/: no path separators, no leading dot, nothing else odd."""
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", name):
            raise ValueError("use letters, digits, '_', '-' and '.' only, not starting with '.' (it names the output folder)")
        return name

    def with_steps(self, steps: int) -> "Config":
        """A copy of this config that runs ``steps`` weeks (validated as ``run.steps`` is: a ValidationError if not)."""
        run = RunConfig.model_validate({**self.run.model_dump(), "steps": steps})
        return self.model_copy(update={"run": run}, deep=True)

    def term_weeks(self, kind: ServiceKind) -> int:
        return self.contracts.term_weeks_kpo if kind == ServiceKind.KPO else self.contracts.term_weeks_bpo


Region = Literal["domestic", "offshore"]
