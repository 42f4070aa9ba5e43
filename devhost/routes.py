"""ASP.NET Core route templates, as the Azure Functions host interprets `route=` of an HTTP trigger.

Only the host's semantics matter here, so that a route that matches locally matches in Azure:
literals compare case-insensitively, a parameter never spans a `/` unless it is a catch-all,
constraints are checked on the captured value (a `regex(...)` constraint is an unanchored,
case-insensitive search, so `^`/`$` in it anchor to the value), a parameter with `?` or a
default value may be left out only at the end of the template, and when several templates
match, the most specific one wins (literal segments before constrained parameters before plain
parameters before catch-alls).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

Constraint = Callable[[str], bool]

_CONSTRAINT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIGITS = re.compile(r"[+-]?[0-9]+")


def _integer(bits: int) -> Constraint:
    """.NET's int/long route constraints: an optionally signed decimal that fits the type."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return lambda value: _DIGITS.fullmatch(value) is not None and low <= int(value) <= high


def _regex(pattern: str) -> Constraint:
    compiled = re.compile(pattern, re.IGNORECASE)
    return lambda value: compiled.search(value) is not None


_SIMPLE_CONSTRAINTS: dict[str, Constraint] = {
    "int": _integer(32),
    "long": _integer(64),
    "alpha": lambda value: re.fullmatch(r"[A-Za-z]*", value) is not None,
    "bool": lambda value: value.lower() in ("true", "false"),
}


def _constraint(name: str, argument: str | None, template: str) -> Constraint:
    key = name.lower()
    if key == "regex" and argument is not None:
        return _regex(argument)
    if key in _SIMPLE_CONSTRAINTS and argument is None:
        return _SIMPLE_CONSTRAINTS[key]
    shown = name if argument is None else f"{name}({argument})"
    raise ValueError(f"route constraint {shown!r} is not supported (in {template!r})")


@dataclass(frozen=True)
class Parameter:
    """One `{...}` of a template."""

    name: str
    optional: bool
    catch_all: bool
    default: str | None
    constraints: tuple[Constraint, ...]

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.constraints)


Part = str | Parameter


def _parse_parameter(text: str, template: str) -> Parameter:
    """Split `*name:c1:c2(arg)=default?` the way ASP.NET Core does.

    A `)` closes a constraint argument only where `:`, `=` or the end follows, so a regex may
    contain parentheses of its own.
    """
    catch_all = text.startswith("*")
    body = text.lstrip("*") if catch_all else text
    optional = body.endswith("?")
    if optional:
        body = body[:-1]
    name_end = next((i for i, char in enumerate(body) if char in ":=" and i > 0), len(body))
    name, rest = body[:name_end], body[name_end:]
    if not name:
        raise ValueError(f"route parameter without a name in {template!r}")

    constraints: list[Constraint] = []
    position = 0
    while position < len(rest) and rest[position] == ":":
        match = _CONSTRAINT_NAME.match(rest, position + 1)
        if match is None:
            raise ValueError(f"malformed constraint of {{{name}}} in {template!r}")
        position, argument = match.end(), None
        if rest.startswith("(", position):
            close = position
            while True:
                close = rest.find(")", close + 1)
                if close == -1:
                    raise ValueError(f"unclosed '(' in a constraint of {{{name}}} in {template!r}")
                if close + 1 == len(rest) or rest[close + 1] in ":=":
                    break
            argument, position = rest[position + 1 : close], close + 1
        constraints.append(_constraint(match.group(), argument, template))

    default = None
    if position < len(rest):
        if rest[position] != "=":
            raise ValueError(f"malformed route parameter {{{text}}} in {template!r}")
        default = rest[position + 1 :]
    return Parameter(name, optional, catch_all, default, tuple(constraints))


def _read_parameter(template: str, start: int) -> tuple[str, int]:
    """Text of the parameter opened just before `start`, and the index after its closing brace.

    Braces inside a parameter (in a regex, say) are written doubled.
    """
    text: list[str] = []
    index = start
    while index < len(template):
        char, following = template[index], template[index + 1 : index + 2]
        if char in "{}" and following == char:
            text.append(char)
            index += 2
        elif char == "}":
            return "".join(text), index + 1
        elif char == "{":
            raise ValueError(f"unescaped '{{' inside a route parameter in {template!r}")
        else:
            text.append(char)
            index += 1
    raise ValueError(f"unclosed route parameter in {template!r}")


def parse_template(template: str) -> list[list[Part]]:
    """Segments of a template, each a list of literal strings and parameters."""
    segments: list[list[Part]] = [[]]
    literal: list[str] = []

    def end_literal() -> None:
        if literal:
            segments[-1].append("".join(literal))
            literal.clear()

    index = 0
    while index < len(template):
        char, following = template[index], template[index + 1 : index + 2]
        if char == "/":
            end_literal()
            segments.append([])
            index += 1
        elif char in "{}" and following == char:
            literal.append(char)
            index += 2
        elif char == "{":
            end_literal()
            text, index = _read_parameter(template, index + 1)
            segments[-1].append(_parse_parameter(text, template))
        elif char == "}":
            raise ValueError(f"unmatched '}}' in route {template!r}")
        else:
            literal.append(char)
            index += 1
    end_literal()
    if segments == [[]]:
        return []
    if not all(segments):
        raise ValueError(f"empty segment in route {template!r}")
    return segments


def _is_omissible(part: Part) -> bool:
    return isinstance(part, Parameter) and (part.optional or part.default is not None)


def _omissible_segment(segment: list[Part]) -> bool:
    part = segment[0]
    return (
        len(segment) == 1
        and isinstance(part, Parameter)
        and (part.catch_all or _is_omissible(part))
    )


def _precedence_digit(segment: list[Part]) -> int:
    """ASP.NET Core's inbound precedence of one segment: lower digits are tried first."""
    if len(segment) > 1:
        return 2
    part = segment[0]
    if isinstance(part, str):
        return 1
    if part.catch_all:
        return 4 if part.constraints else 5
    return 2 if part.constraints else 3


class RouteTemplate:
    """A compiled template: `match()` gives the route values of a request path, or None."""

    def __init__(self, template: str) -> None:
        self.template = template
        segments = parse_template(template.removeprefix("~").strip("/"))
        self._segments = segments
        self.precedence = tuple(_precedence_digit(segment) for segment in segments)
        self._groups: dict[str, Parameter] = {}
        self._pattern = re.compile(
            "^" + self._segments_pattern(segments) + "/?$", re.IGNORECASE | re.DOTALL
        )

    def match(self, path: str) -> dict[str, str] | None:
        found = self._pattern.match(path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for group, parameter in self._groups.items():
            value = found.group(group)
            if value is None or value == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            if not parameter.accepts(value):
                return None
            values[parameter.name] = value
        return values

    def redacted(self, values: dict[str, str]) -> str:
        """The path as the template spells it, for logs: a constrained parameter shows its value
        (the constraint confines it to the app's own vocabulary, such as the API version), any
        other one only its name, since free values are UIDs and other caller data."""
        segments = []
        for segment in self._segments:
            text = []
            for part in segment:
                if isinstance(part, str):
                    text.append(part)
                elif part.constraints and part.name in values:
                    text.append(values[part.name])
                else:
                    text.append(f"{{{part.name}}}")
            segments.append("".join(text))
        return "/" + "/".join(segments)

    def _capture(self, parameter: Parameter, body: str) -> str:
        if parameter.name.lower() in (known.name.lower() for known in self._groups.values()):
            raise ValueError(f"parameter {parameter.name!r} repeated in {self.template!r}")
        group = f"p{len(self._groups)}"
        self._groups[group] = parameter
        return f"(?P<{group}>{body})"

    def _segments_pattern(self, segments: list[list[Part]]) -> str:
        # A segment may be left out only if every segment after it may be too.
        omissible_from = len(segments)
        while omissible_from > 0 and _omissible_segment(segments[omissible_from - 1]):
            omissible_from -= 1
        pattern = []
        for index, segment in enumerate(segments):
            body = "/" + self._segment_pattern(segment, last=index == len(segments) - 1)
            pattern.append(f"(?:{body})?" if index >= omissible_from else body)
        return "".join(pattern)

    def _segment_pattern(self, segment: list[Part], last: bool) -> str:
        if len(segment) == 1 and isinstance(segment[0], Parameter) and segment[0].catch_all:
            if not last:
                raise ValueError(f"a catch-all must be the last segment of {self.template!r}")
            return self._capture(segment[0], ".*")
        pattern = []
        previous_literal: str | None = None
        for index, part in enumerate(segment):
            if isinstance(part, str):
                pattern.append(re.escape(part))
                previous_literal = part
                continue
            if part.catch_all:
                raise ValueError(f"a catch-all must be a whole segment in {self.template!r}")
            if index > 0 and previous_literal is None:
                raise ValueError(f"two parameters need a literal between them in {self.template!r}")
            # Within a segment ASP.NET Core splits at the last occurrence of each literal, so a
            # parameter after a literal never contains that literal; the first one is lazy so a
            # trailing optional parameter is filled whenever it can be.
            if previous_literal is None:
                body = "[^/]+?" if len(segment) > 1 else "[^/]+"
            else:
                body = f"(?:(?!{re.escape(previous_literal)})[^/])+"
            capture = self._capture(part, body)
            if len(segment) > 1 and _is_omissible(part):
                if index != len(segment) - 1 or previous_literal is None:
                    raise ValueError(
                        f"an optional parameter must end its segment in {self.template!r}"
                    )
                pattern[-1] = f"(?:{pattern[-1]}{capture})?"
            else:
                pattern.append(capture)
            previous_literal = None
        return "".join(pattern)
