"""Every kill verdict rule (KP7xx): its bad evidence example yields it, its good one doesn't."""

from __future__ import annotations

import pytest

from killproof.rules.kill import RULES
from killproof.why.run import check_example


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_bad_examples_fire_and_good_ones_do_not(rule: object) -> None:
    from killproof.rules.base import Rule

    assert isinstance(rule, Rule)
    assert rule.bad and rule.good, f"{rule.id} needs a bad and a good example"
    for example in rule.bad:
        assert rule.id in {f.rule for f in check_example(example)}, example.source
    for example in rule.good:
        assert rule.id not in {f.rule for f in check_example(example)}, example.source
