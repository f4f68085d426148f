"""A plain Mesa Boltzmann wealth model: the speed reference for the outsim benchmarks.

The machine the benchmarks run on is shared and noisy, so absolute seconds drift from run to run.
This model is the yardstick: it exercises the same interpreter, the same Mesa version and the same
``AgentSet`` machinery as outsim, but nothing else, so the ratio "outsim firm-weeks per second /
Boltzmann agent-steps per second", measured in one process a few seconds apart, is far more stable
than either number alone. A ratio that falls means outsim got slower relative to plain Mesa.

The model is deliberately the textbook one and nothing more:

* ``N`` agents, each a :class:`mesa.Agent` subclass created with ``Agent(model)``, start with wealth 1;
* every step, ``model.agents.shuffle_do("step")`` activates every agent once in random order;
* an agent with wealth > 0 gives one unit to a random *other* agent, picked from a cached Python list
  of agents (not ``model.agents[i]``, whose cost is an implementation detail of ``AgentSet``);
* the model is seeded with ``mesa.Model(rng=seed)``; no ``mesa.space``, no ``mesa.batch_run``.

Run it alone with ``python benchmarks/boltzmann.py`` to see its speed on this machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import mesa

#: Defaults sized to take about 2.5 s on the 2-core benchmark machine (~2 million agent-steps/s there).
DEFAULT_AGENTS = 1_000
DEFAULT_STEPS = 5_000


class MoneyAgent(mesa.Agent):
    """An agent holding some units of wealth.

    Attributes:
        wealth: units of wealth currently held.
        index: this agent's position in ``model.agent_list`` (used to exclude itself from the draw).
    """

    def __init__(self, model: "BoltzmannWealth", index: int) -> None:
        super().__init__(model)
        self.wealth = 1
        self.index = index

    def step(self) -> None:
        """Give one unit of wealth to a random other agent, if there is any wealth to give."""
        if self.wealth > 0:
            model = self.model
            j = model.random.randrange(model.n_agents - 1)
            if j >= self.index:  # skip self: uniform over the other N - 1 agents
                j += 1
            model.agent_list[j].wealth += 1
            self.wealth -= 1


class BoltzmannWealth(mesa.Model):
    """The Boltzmann wealth model without space.

    Args:
        n_agents: number of agents (at least 2).
        seed: seed passed to ``mesa.Model(rng=seed)``; the model's stdlib ``random`` is derived from it.
    """

    def __init__(self, n_agents: int = DEFAULT_AGENTS, seed: int = 0) -> None:
        super().__init__(rng=seed)
        if n_agents < 2:
            raise ValueError("the Boltzmann model needs at least 2 agents")
        self.n_agents = n_agents
        self.agent_list: list[MoneyAgent] = [MoneyAgent(self, i) for i in range(n_agents)]

    def step(self) -> None:
        """Activate every agent once, in a fresh random order."""
        self.agents.shuffle_do("step")

    def total_wealth(self) -> int:
        """Total wealth: conserved, equal to ``n_agents`` at every step."""
        return sum(a.wealth for a in self.agent_list)


@dataclass
class BoltzmannTiming:
    """One timed Boltzmann run.

    Attributes:
        agents: number of agents.
        steps: model steps run.
        seconds: wall seconds of the step loop only (model construction excluded).
        agent_steps_per_s: ``agents * steps / seconds``.
    """

    agents: int
    steps: int
    seconds: float
    agent_steps_per_s: float

    def as_dict(self) -> dict[str, float]:
        """Return the timing as a plain dict (for JSON)."""
        return asdict(self)


def time_boltzmann(n_agents: int = DEFAULT_AGENTS, steps: int = DEFAULT_STEPS, seed: int = 0) -> BoltzmannTiming:
    """Build a Boltzmann model and time ``steps`` calls of ``model.step()``.

    Args:
        n_agents: number of agents.
        steps: number of steps to time.
        seed: model seed.

    Returns:
        The timing of the step loop; construction is not timed.

    Raises:
        AssertionError: if wealth was not conserved (the model would be wrong, not just slow).
    """
    model = BoltzmannWealth(n_agents, seed=seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.step()
    seconds = time.perf_counter() - t0
    assert model.total_wealth() == n_agents, "Boltzmann model lost or created wealth"
    return BoltzmannTiming(n_agents, steps, seconds, n_agents * steps / seconds)


if __name__ == "__main__":
    result = time_boltzmann()
    print(f"Boltzmann wealth: {result.agents} agents x {result.steps} steps in {result.seconds:.2f} s "
          f"= {result.agent_steps_per_s:,.0f} agent-steps/s")
