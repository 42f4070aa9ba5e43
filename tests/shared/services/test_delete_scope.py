"""Delete scopes: the operation ids handed to clients, and the queries they stand for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.services.delete import DeleteScope
from shared.uid_index.cosmos import sql
from shared.uid_index.keys import InstanceRef

uids = st.from_regex(r"\A[1-9][0-9]{0,20}(\.[1-9][0-9]{0,10}){1,4}\Z")


@given(uids, uids, uids)
def test_operation_ids_name_their_scope_and_no_uid(study: str, series: str, sop: str) -> None:
    ref = InstanceRef.of("Microsoft.Default", study, series, sop)
    for scope in (
        DeleteScope.of_study(ref.study),
        DeleteScope.of_series(ref.series),
        DeleteScope.of_instance(ref),
    ):
        operation = scope.operation_id
        assert DeleteScope.from_operation_id(operation) == scope
        assert study not in operation and sop not in operation


@pytest.mark.parametrize(
    "operation",
    ["", "abc", "0" * 31, "0" * 32 + "-", ("0" * 32 + "-") * 3 + "0" * 32, "G" * 32, "../x"],
)
def test_other_operation_ids_are_unknown(operation: str) -> None:
    assert DeleteScope.from_operation_id(operation) is None


def test_queries_narrow_to_the_scope() -> None:
    ref = InstanceRef.of("p", "1.2", "1.2.3", "1.2.3.4")
    study = sql.deleting_count(DeleteScope.of_study(ref.study))
    instance = sql.deleting_count(DeleteScope.of_instance(ref))
    study_query, study_params = study.text, study.params
    instance_query, instance_params = instance.text, instance.params
    assert "seriesKey" not in study_query and len(study_params) == 1
    assert "c.seriesKey = @series" in instance_query and "c.id = @id" in instance_query
    assert set(instance_params.values()) == {ref.study.key, ref.series.key, ref.doc_id}
