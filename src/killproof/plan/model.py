"""The values ``plan`` produces: one :class:`Recommendation` per setting, and the plan."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from killproof.model import JSONValue


class Strategy(enum.Enum):
    """The sizing recipe (``--strategy``)."""

    KILLPROOF = "killproof"
    KRR = "krr"
    VPA = "vpa"


class Setting(enum.Enum):
    """What a recommendation sets (the names are a JSON contract)."""

    MEMORY_REQUEST = "resources.requests.memory"
    MEMORY_LIMIT = "resources.limits.memory"
    CPU_REQUEST = "resources.requests.cpu"
    CPU_LIMIT = "resources.limits.cpu"
    QOS = "qosClass"
    GOMEMLIMIT = "env.GOMEMLIMIT"
    GOGC = "env.GOGC"
    GOMAXPROCS = "env.GOMAXPROCS"
    PRESTOP = "lifecycle.preStop.sleep.seconds"
    GRACE = "terminationGracePeriodSeconds"
    REPLICAS = "replicas"
    HPA = "HorizontalPodAutoscaler"


@dataclass(frozen=True)
class Recommendation:
    """One setting: what it is now, what to set, and the formula and inputs behind it.

    ``recommended`` is None when plan refuses to size it (``reasoning`` says why) and
    ``"unset"`` when the setting should be removed. ``value`` is the number to write in
    base units (bytes, cores, seconds, replicas), None for text settings.
    """

    setting: Setting
    current: str | None
    recommended: str | None
    formula: str
    inputs: Mapping[str, JSONValue] = field(default_factory=dict)
    reasoning: str = ""
    value: float | None = None

    @property
    def changes(self) -> bool:
        """True when the recommendation differs from what is set now."""
        if self.recommended is None or (self.recommended == "unset" and self.current is None):
            return False
        return self.recommended != self.current

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form (``setting``/``current``/``recommended``/``formula``/``inputs`` are
        the contract the HTML report reads)."""
        return {
            "setting": self.setting.value,
            "current": self.current,
            "recommended": self.recommended,
            "formula": self.formula,
            "inputs": dict(self.inputs),
            "reasoning": self.reasoning,
        }


@dataclass(frozen=True)
class Refusal:
    """Why memory is not sized: a leak (or an OOM kill caused by one)."""

    reason: str
    pointer: str
    """Where to look: the drill's rule, the heap profile command."""


@dataclass(frozen=True)
class Plan:
    """Every recommendation for one container, in a fixed order."""

    strategy: Strategy
    recommendations: tuple[Recommendation, ...]
    refusal: Refusal | None = None

    def get(self, setting: Setting) -> Recommendation | None:
        """The recommendation for ``setting``, if plan made one."""
        return next((r for r in self.recommendations if r.setting is setting), None)
