"""The normalised forms shared by the index and the queries."""

from datetime import datetime, time

from hypothesis import given
from hypothesis import strategies as st

from shared.dicom.search_forms import datetime_key, fold_text, name_groups, name_words, time_key


def test_fold_text_ignores_case_accents_and_width() -> None:
    assert fold_text("Müller^JÜRGEN") == "muller^jurgen"
    assert fold_text("García") == fold_text("GARCIA")
    assert fold_text("ﾔﾏﾀﾞ") == fold_text("ヤマダ")


def test_name_groups_and_words() -> None:
    assert name_groups("Yamada^Tarou", "山田^太郎", "やまだ^たろう") == [
        "yamada^tarou",
        "山田^太郎",
        "やまだ^たろう",
    ]
    assert name_groups("Doe^John^^", "", "") == ["doe^john"]
    assert name_words("garcía^josé maría") == ["garcía", "josé", "maría"]


def test_time_key_spans_the_precision_given() -> None:
    assert time_key("12") == "120000.000000"
    assert time_key("12", upper=True) == "125959.999999"
    assert time_key("1230") == "123000.000000"
    assert time_key("123015.5") == "123015.500000"
    assert time_key("123015.5", upper=True) == "123015.599999"
    assert time_key("123015", upper=True) == "123015.999999"
    for invalid in ("", "1", "24", "1260", "12:30", "123015.", "123015.1234567"):
        assert time_key(invalid) is None


times = st.times().map(lambda t: t.replace(tzinfo=None))


@given(times, times)
def test_time_key_orders_as_time(a: time, b: time) -> None:
    def text(t: time) -> str:
        return t.strftime("%H%M%S.%f")

    key_a, key_b = time_key(text(a)), time_key(text(b))
    assert key_a is not None and key_b is not None
    assert (key_a < key_b) == (a < b)


@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.sampled_from((4, 6, 8, 10, 12, 14)),
)
def test_datetime_keys_bound_the_times_a_value_names(when: datetime, length: int) -> None:
    digits = when.strftime("%Y%m%d%H%M%S").zfill(14)[:length]
    low, high = datetime_key(digits), datetime_key(digits, upper=True)
    assert low is not None and high is not None
    assert low <= high and len(low) == len(high) == 21
