"""File names of a download: readable from the numbers, digests where they are missing or shared."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from shared.services.file_names import file_names
from shared.uid_index.keys import InstanceRef

STUDY = "1.2.3"


@dataclass(frozen=True)
class Item:
    ref: InstanceRef
    series_number: int | None
    instance_number: int | None


def _item(series: str, sop: str, numbers: tuple[int | None, int | None]) -> Item:
    return Item(InstanceRef.of("p", STUDY, series, sop), *numbers)


def test_numbers_name_the_files() -> None:
    items = [
        _item("1.1", "1.1.1", (1, 1)),
        _item("1.1", "1.1.2", (1, 2)),
        _item("1.2", "1", (2, 1)),
    ]
    assert file_names(items) == ["1-1.dcm", "1-2.dcm", "2-1.dcm"]


def test_missing_numbers_become_digests_never_uids() -> None:
    item = _item("1.1", "1.1.1", (None, None))
    (name,) = file_names([item])
    assert name == f"{item.ref.series.key}-{item.ref.key}.dcm"
    assert "1.1" not in name
    (partial,) = file_names([_item("1.1", "1.1.1", (3, None))])
    assert partial == f"3-{item.ref.key}.dcm"


def test_a_shared_name_gives_each_instance_its_digest_and_the_others_keep_theirs() -> None:
    twins = [_item("1.1", "1.1.1", (1, 1)), _item("1.2", "1.2.1", (1, 1))]
    alone = _item("1.1", "1.1.2", (1, 2))
    assert file_names([*twins, alone]) == [
        f"1-{twins[0].ref.key}.dcm",
        f"1-{twins[1].ref.key}.dcm",
        "1-2.dcm",
    ]


numbers = st.one_of(st.none(), st.integers(min_value=-99, max_value=99))


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 10**6), numbers, numbers),
        unique_by=lambda t: (t[0], t[1]),
        max_size=30,
    )
)
def test_names_are_unique_plain_and_stable(
    rows: list[tuple[int, int, int | None, int | None]],
) -> None:
    items = [_item(f"1.{s}", f"1.{s}.{i}", (sn, inn)) for s, i, sn, inn in rows]
    names = file_names(items)
    assert len(set(names)) == len(names)
    assert all(n.endswith(".dcm") and "/" not in n and "\\" not in n for n in names)
    assert file_names(items) == names
