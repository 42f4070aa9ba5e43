from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import NotAcceptable
from shared.web.media_types import (
    AcceptEntry,
    MediaType,
    parse_accept,
    parse_media_type,
    require_dicom_json,
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class TestParseMediaType:
    def test_type_and_parameter_names_are_lower_cased_values_kept(self) -> None:
        media = parse_media_type('Multipart/Related; Type="application/dicom"; BOUNDARY=AbC')
        assert media.type == "multipart/related"
        assert dict(media.params) == {"type": "application/dicom", "boundary": "AbC"}

    def test_unquoted_values_may_hold_slashes_and_asterisks(self) -> None:
        media = parse_media_type(
            "multipart/related; type=application/octet-stream; transfer-syntax=*"
        )
        assert media.param("type") == "application/octet-stream"
        assert media.param("transfer-syntax") == "*"

    def test_quoted_wildcard_type(self) -> None:
        assert parse_media_type('multipart/related; type="*/*"').param("type") == "*/*"

    def test_parameters_in_any_order(self) -> None:
        a = parse_media_type('multipart/related; boundary=x; type="application/dicom"')
        b = parse_media_type('multipart/related; type="application/dicom"; boundary=x')
        assert a == b

    def test_whitespace_empty_members_and_trailing_semicolon(self) -> None:
        media = parse_media_type(
            "  application/dicom \t;; ;transfer-syntax = 1.2.840.10008.1.2.1 ;"
        )
        assert media == MediaType("application/dicom", {"transfer-syntax": "1.2.840.10008.1.2.1"})

    def test_no_parameters(self) -> None:
        assert parse_media_type("application/dicom") == MediaType("application/dicom")

    def test_quoted_string_escapes_are_resolved(self) -> None:
        media = parse_media_type(r'a/b; x="say \"hi\" \\ there"; y="a;b,c"')
        assert media.param("x") == 'say "hi" \\ there'
        assert media.param("y") == "a;b,c"

    @pytest.mark.parametrize(
        ("header", "boundary"),
        [
            # Orthanc 1.10's DICOMweb client: two UUIDs joined by a dash, unquoted, 73 characters.
            (
                'multipart/related; type="application/dicom"; '
                "boundary=0b9e5d2c-63f1-4b8e-a7d4-2f6c1e9a8b30-5d7c3a1e-9f24-4c6b-8e1a-7b3d5f9c2e41",
                "0b9e5d2c-63f1-4b8e-a7d4-2f6c1e9a8b30-5d7c3a1e-9f24-4c6b-8e1a-7b3d5f9c2e41",
            ),
            ("multipart/related; boundary=" + "t" * 256, "t" * 256),
            ('multipart/related; boundary="with spaces: and colons"', "with spaces: and colons"),
            ('multipart/related; boundary="a;b=c" ; type=application/dicom', "a;b=c"),
            (r'multipart/related; boundary="q\"uote\\d"', 'q"uote\\d'),
            ("multipart/related;boundary=tok.en_with+chars!  ;type=x/y", "tok.en_with+chars!"),
            ('multipart/related; boundary=" "', " "),
        ],
    )
    def test_boundaries_as_senders_write_them(self, header: str, boundary: str) -> None:
        assert parse_media_type(header).param("boundary") == boundary

    def test_empty_values(self) -> None:
        assert dict(parse_media_type('a/b; x=; y=""').params) == {"x": "", "y": ""}

    def test_param_lookup_is_case_insensitive(self) -> None:
        media = parse_media_type("a/b; Boundary=Q")
        assert media.param("BOUNDARY") == "Q"
        assert media.param("type") is None

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "   ",
            ";boundary=x",
            "application",
            "application/",
            "/dicom",
            "application dicom",
            "a/b/c",
            "application / dicom",
            '"a/b"',
            "a/b; novalue",
            "a/b; =x",
            'a/b; x="unterminated',
            'a/b; x="a"b',
            "a/b; x=a b",
            "a/b; x=1; X=2",
            "a/b; x=\x01",
            "\u212a/b",
        ],
    )
    def test_garbled_values_raise_value_error(self, value: str) -> None:
        with pytest.raises(ValueError):
            parse_media_type(value)

    def test_error_messages_do_not_repeat_the_value(self) -> None:
        with pytest.raises(ValueError) as info:
            parse_media_type("secret-text-without-slash")
        assert "secret" not in str(info.value)


class TestMediaType:
    def test_constructor_normalises_and_validates(self) -> None:
        media = MediaType("Image/PNG", {"Q": "1"})
        assert media.type == "image/png"
        assert dict(media.params) == {"q": "1"}
        with pytest.raises(ValueError):
            MediaType("image")
        with pytest.raises(ValueError):
            MediaType("a/b", {"bad name": "x"})
        with pytest.raises(ValueError):
            MediaType("a/b", {"x": "line\r\nbreak"})
        with pytest.raises(ValueError):
            MediaType("a/b", {"x": "1", "X": "2"})

    def test_params_cannot_be_changed_through_the_argument(self) -> None:
        params = {"a": "1"}
        media = MediaType("a/b", params)
        params["a"] = "2"
        assert media.param("a") == "1"

    def test_hashable_and_equal_ignoring_case(self) -> None:
        assert hash(MediaType("A/B", {"x": "1"})) == hash(MediaType("a/b", {"X": "1"}))
        assert MediaType("A/B", {"x": "1"}) == MediaType("a/b", {"X": "1"})
        assert MediaType("a/b", {"x": "1"}) != MediaType("a/b", {"x": "2"})

    def test_str_quotes_only_what_needs_it(self) -> None:
        media = MediaType(
            "multipart/related",
            {"type": "application/dicom", "boundary": "abc123", "x": 'q"\\', "e": ""},
        )
        assert str(media) == (
            'multipart/related; type="application/dicom"; boundary=abc123; x="q\\"\\\\"; e=""'
        )

    @pytest.mark.parametrize(
        ("range_", "concrete", "expected"),
        [
            ("*/*", "application/dicom", True),
            ("application/*", "application/dicom", True),
            ("application/*", "image/jpeg", False),
            ("application/dicom", "application/dicom", True),
            ("application/dicom", "application/dicom+json", False),
            ("application/dicom+json", "application/dicom", False),
        ],
    )
    def test_matches(self, range_: str, concrete: str, expected: bool) -> None:
        assert MediaType(range_).matches(MediaType(concrete)) is expected


class TestParseAccept:
    @pytest.mark.parametrize("value", [None, "", "  \t"])
    def test_missing_or_blank_means_anything(self, value: str | None) -> None:
        assert parse_accept(value) == [AcceptEntry(MediaType("*/*"), 1.0)]

    def test_sorted_by_weight_stable_for_ties(self) -> None:
        entries = parse_accept("a/x;q=0.5, b/x, c/x;q=0.9, d/x, e/x;q=0.5")
        assert [(e.media_type.type, e.q) for e in entries] == [
            ("b/x", 1.0),
            ("d/x", 1.0),
            ("c/x", 0.9),
            ("a/x", 0.5),
            ("e/x", 0.5),
        ]

    def test_q_is_taken_out_of_the_parameters(self) -> None:
        (entry,) = parse_accept('multipart/related; type="application/dicom"; Q=0.4')
        assert entry.q == 0.4
        assert dict(entry.media_type.params) == {"type": "application/dicom"}

    def test_commas_inside_quoted_strings_do_not_split(self) -> None:
        entries = parse_accept('a/b; x="1,2", c/d')
        assert [e.media_type for e in entries] == [MediaType("a/b", {"x": "1,2"}), MediaType("c/d")]

    def test_dicomweb_style_ranges(self) -> None:
        entries = parse_accept(
            "multipart/related; type=application/dicom; transfer-syntax=*, "
            'multipart/related; type="application/octet-stream"; q=0.5'
        )
        assert entries[0].media_type.param("transfer-syntax") == "*"
        assert entries[1].media_type.param("type") == "application/octet-stream"
        assert entries[1].q == 0.5

    def test_junk_members_are_skipped(self) -> None:
        entries = parse_accept('text/html, *, foo, , a/b; x="open, image/png;q=0.2')
        assert [e.media_type.type for e in entries] == ["text/html"]

    def test_all_junk_accepts_nothing(self) -> None:
        assert parse_accept("garbage") == []

    @pytest.mark.parametrize("q", ["x", "-0.1", "1.5", "2", "nan", "inf", "1e-1", "", "0.5.1"])
    def test_invalid_weight_drops_the_member(self, q: str) -> None:
        assert [e.media_type.type for e in parse_accept(f"a/b;q={q}, c/d")] == ["c/d"]

    @pytest.mark.parametrize(
        ("q", "expected"), [("1", 1.0), ("1.000", 1.0), ("0.001", 0.001), (".2", 0.2), ("0.", 0.0)]
    )
    def test_valid_weights(self, q: str, expected: float) -> None:
        assert parse_accept(f"a/b;q={q}")[0].q == expected

    def test_zero_weight_is_kept_last_as_an_exclusion(self) -> None:
        entries = parse_accept("image/png;q=0, image/*")
        assert [(e.media_type.type, e.q) for e in entries] == [("image/*", 1.0), ("image/png", 0.0)]


token = st.text(alphabet=TCHARS, min_size=1, max_size=8)
# Any character a quoted-string can carry: HTAB, and everything but the other controls.
param_value = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"],
        exclude_characters=[chr(c) for c in range(0x20) if c != 9] + ["\x7f"],
    ),
    max_size=12,
)
media_types = st.builds(
    MediaType,
    st.builds(lambda a, b: f"{a}/{b}", token, token),
    st.dictionaries(token.map(str.lower), param_value, max_size=4),
)


@given(media_types)
def test_str_parses_back_to_an_equal_value(media: MediaType) -> None:
    assert parse_media_type(str(media)) == media


@given(st.lists(st.tuples(media_types, st.sampled_from(["", "0", "0.5", "1", "0.25"]))))
def test_rendered_accept_headers_parse_back(members: list[tuple[MediaType, str]]) -> None:
    members = [(m, q) for m, q in members if "q" not in m.params]
    header = ", ".join(f"{m}; q={q}" if q else str(m) for m, q in members)
    expected = sorted(
        (AcceptEntry(m, float(q) if q else 1.0) for m, q in members), key=lambda e: -e.q
    )
    if members:
        assert parse_accept(header) == expected


junk = st.text(
    alphabet=st.sampled_from(list(TCHARS[:20]) + list('/;=", \t\\*\r\n\x00é')), max_size=40
)


@given(st.one_of(junk, st.text(max_size=40)))
def test_junk_raises_only_value_error(value: str) -> None:
    with contextlib.suppress(ValueError):
        parse_media_type(value)


@given(st.one_of(junk, st.text(max_size=40)))
def test_accept_never_raises(value: str) -> None:
    entries = parse_accept(value)
    assert all(0 <= e.q <= 1 and "q" not in e.media_type.params for e in entries)
    assert [e.q for e in entries] == sorted((e.q for e in entries), reverse=True)


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/*",
        "application/json",
        "application/dicom+json",
        "text/html, */*;q=0.1",
    ],
)
def test_dicom_json_accepted(accept: str | None) -> None:
    require_dicom_json(accept, "metadata")


@pytest.mark.parametrize(
    "accept", ["application/dicom", "text/html", "application/dicom+json;q=0", "image/*"]
)
def test_dicom_json_refused_by_name(accept: str) -> None:
    with pytest.raises(NotAcceptable, match="metadata is application/dicom"):
        require_dicom_json(accept, "metadata")
