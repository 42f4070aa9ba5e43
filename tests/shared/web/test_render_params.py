"""Parsing the query parameters and media type of rendered and thumbnail resources."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import BadRequest, NotAcceptable
from shared.pixels.options import DEFAULT_QUALITY, JPEG, PNG, Region, RenderParams, Viewport, Window
from shared.web.render_params import (
    MAX_VIEWPORT,
    is_default_thumbnail,
    parse_viewport,
    parse_window,
    rendered_media_type,
    rendered_params,
    rendered_part_type,
    thumbnail_params,
)


def test_no_parameters_is_a_jpeg_at_natural_size() -> None:
    assert rendered_params([], None) == RenderParams(JPEG, DEFAULT_QUALITY, None, None)


def test_every_rendered_parameter() -> None:
    query = [
        ("quality", "40"),
        ("viewport", "256,128,10,20,-50,60"),
        ("window", "40,400,linear-exact"),
        ("annotation", "patient"),
    ]
    params = rendered_params(query, "image/png")
    assert params == RenderParams(
        PNG, 40, Viewport(256, 128, Region(10, 20, -50, 60)), Window(40.0, 400.0, "LINEAR_EXACT")
    )


def test_viewport_region_fields_may_be_left_empty() -> None:
    assert parse_viewport("64,64,,,,") == Viewport(64, 64, Region(0, 0, None, None))
    assert parse_viewport("64,64,5,,-10,") == Viewport(64, 64, Region(5, 0, -10, None))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("quality", "0"),
        ("quality", "101"),
        ("quality", "high"),
        ("viewport", "64"),
        ("viewport", "64,64,1"),
        ("viewport", "0,64"),
        ("viewport", f"{MAX_VIEWPORT + 1},64"),
        ("viewport", "64,64,-1,0,10,10"),
        ("viewport", "64,64,0,0,0,10"),
        ("viewport", "6.5,64"),
        ("window", "40,400"),
        ("window", "40,400,gamma"),
        ("window", "40,0.5,linear"),
        ("window", "40,0,sigmoid"),
        ("window", "nan,400,linear"),
        ("window", "40,inf,linear"),
    ],
)
def test_bad_values_are_400_naming_the_parameter(name: str, value: str) -> None:
    with pytest.raises(BadRequest) as raised:
        rendered_params([(name, value)], None)
    assert name in raised.value.message


def test_messages_do_not_repeat_the_value() -> None:
    with pytest.raises(BadRequest) as raised:
        rendered_params([("window", "Doe^John,400,linear")], None)
    assert "Doe" not in raised.value.message


def test_a_parameter_given_twice_is_400() -> None:
    with pytest.raises(BadRequest, match="quality"):
        rendered_params([("quality", "10"), ("quality", "20")], None)


def test_names_are_case_sensitive_and_unknown_ones_ignored() -> None:
    assert rendered_params([("Quality", "0"), ("iccprofile", "yes")], None) == RenderParams()


def test_a_narrow_linear_exact_window_is_allowed() -> None:
    assert parse_window("0.5,0.25,linear-exact") == Window(0.5, 0.25, "LINEAR_EXACT")


def test_thumbnail_defaults_to_the_cached_size() -> None:
    params = thumbnail_params([], None)
    assert is_default_thumbnail(params)
    assert not is_default_thumbnail(thumbnail_params([("viewport", "64,64")], None))
    assert not is_default_thumbnail(thumbnail_params([], "image/png"))
    # Rendering parameters a thumbnail does not take are ignored, not cached under another key.
    assert is_default_thumbnail(thumbnail_params([("quality", "5"), ("window", "1,1,x")], None))


def test_thumbnail_viewport_has_no_region() -> None:
    with pytest.raises(BadRequest, match="viewport"):
        thumbnail_params([("viewport", "64,64,0,0,10,10")], None)


@pytest.mark.parametrize(
    ("param", "header", "expected"),
    [
        (None, None, JPEG),
        (None, "*/*", JPEG),
        (None, "image/*", JPEG),
        (None, "image/png", PNG),
        (None, "image/png, image/jpeg;q=0.5", PNG),
        (None, "image/jpeg;q=0.5, image/png", PNG),
        (None, "image/*, image/jpeg;q=0", PNG),
        ("image/png", "image/jpeg", PNG),
        ("image/gif", "image/png", PNG),
        ("image/gif", None, JPEG),
        ("", "image/png", PNG),
    ],
)
def test_media_type_from_accept_parameter_then_header(
    param: str | None, header: str | None, expected: str
) -> None:
    assert rendered_media_type(param, header) == expected


@pytest.mark.parametrize(
    "header", ["application/dicom", "image/gif", 'multipart/related; type="image/jpeg"']
)
def test_no_supported_type_is_406(header: str) -> None:
    with pytest.raises(NotAcceptable):
        rendered_media_type(None, header)


@given(
    st.integers(1, MAX_VIEWPORT),
    st.integers(1, MAX_VIEWPORT),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(-(10**6), 10**6).filter(bool),
    st.integers(-(10**6), 10**6).filter(bool),
)
def test_viewport_round_trips(vw: int, vh: int, sx: int, sy: int, sw: int, sh: int) -> None:
    assert parse_viewport(f"{vw},{vh},{sx},{sy},{sw},{sh}") == Viewport(
        vw, vh, Region(sx, sy, sw, sh)
    )


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_400(text: str) -> None:
    for name in ("quality", "viewport", "window", "accept"):
        with contextlib.suppress(BadRequest, NotAcceptable):
            rendered_params([(name, text)], None)


@pytest.mark.parametrize(
    ("param", "header", "expected"),
    [
        (None, None, JPEG),
        (None, "*/*", JPEG),
        (None, "multipart/related", JPEG),
        (None, 'multipart/related; type="image/png"', PNG),
        (None, 'multipart/related; type="image/*"', JPEG),
        ("multipart/related; type=image/png", "*/*", PNG),
        ("image/png", 'multipart/related; type="image/png"', PNG),
    ],
)
def test_part_type_of_rendered_studies(
    param: str | None, header: str | None, expected: str
) -> None:
    assert rendered_params([("accept", param)] if param else [], header, multipart=True) == (
        RenderParams(media_type=expected)
    )
    assert rendered_part_type(param, header) == expected


@pytest.mark.parametrize(
    "header", ["image/jpeg", "image/png", 'multipart/related; type="image/gif"']
)
def test_rendered_studies_are_multipart_only(header: str) -> None:
    with pytest.raises(NotAcceptable, match="multipart"):
        rendered_part_type(None, header)
