from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import BadRequest
from shared.web.partitions import partition_name

ALLOWED = st.text(alphabet=st.sampled_from("abcXYZ019.-_"), min_size=1, max_size=64)


@given(ALLOWED)
def test_names_by_the_rule_are_taken_as_they_are(name: str) -> None:
    assert partition_name(name, enabled=True) == name


@given(st.text(max_size=80))
def test_every_other_name_is_a_400_that_does_not_repeat_it(name: str) -> None:
    if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
        return
    with pytest.raises(BadRequest) as refused:
        partition_name(name, enabled=True)
    # One message for every name: it states the rule and never carries the value.
    assert refused.value.message == (
        "a data partition name is 1 to 64 letters, digits, '.', '-' and '_'"
    )


@pytest.mark.parametrize("name", ["", "a" * 65, "a/b", "a b", "é", "x%2F"])
def test_names_outside_the_rule(name: str) -> None:
    with pytest.raises(BadRequest):
        partition_name(name, enabled=True)


def test_partition_routes_are_refused_when_partitions_are_off() -> None:
    with pytest.raises(BadRequest) as refused:
        partition_name("Microsoft.Default", enabled=False)
    assert "not enabled" in refused.value.message
