"""CloudWatch Logs filter patterns (FilterLogEvents), compiled to a predicate on a message.

Term patterns: `ERROR timeout` (every term), `"exact phrase"`, `?ERROR ?WARN` (any of the
`?` terms), `ERROR -retry` (not), `%regex%`. JSON patterns: `{ $.level = "FATAL" }` with
`= != < > <= >=`, `*` wildcards in strings, `&&`, `||`, parentheses, `IS TRUE|FALSE|NULL`,
`NOT EXISTS`. Terms are case-sensitive, as in CloudWatch. Space-delimited patterns
(`[ip, user, ...]`) are refused (`PatternError`): the local cloud does not implement them.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[str], bool]
_MISSING = object()


class PatternError(ValueError):
    """A filter pattern the local cloud cannot compile."""


def compile_pattern(pattern: str | None) -> Predicate:
    text = (pattern or "").strip()
    if not text or text == '""':
        return lambda message: True
    if text.startswith("{"):
        if not text.endswith("}"):
            raise PatternError("a JSON filter pattern must end with }")
        return _json_predicate(text[1:-1])
    if text.startswith("["):
        raise PatternError("space-delimited filter patterns ([a, b, ...]) are not supported")
    return _term_predicate(text)


# term patterns -------------------------------------------------------------------------
_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|%([^%]*)%|(\S+))')


def _term_matcher(quoted: str | None, regex: str | None, bare: str | None) -> Predicate:
    if regex is not None:
        compiled = re.compile(regex)
        return lambda message: compiled.search(message) is not None
    word = quoted.replace('\\"', '"') if quoted is not None else str(bare)
    return lambda message: word in message


def _term_predicate(text: str) -> Predicate:
    required: list[Predicate] = []
    optional: list[Predicate] = []
    excluded: list[Predicate] = []
    for match in _TERM.finditer(text):
        prefix, quoted, regex, bare = match.groups()
        matcher = _term_matcher(quoted, regex, bare)
        {"?": optional, "-": excluded, "": required}[prefix].append(matcher)

    def predicate(message: str) -> bool:
        return (
            all(m(message) for m in required)
            and (not optional or any(m(message) for m in optional))
            and not any(m(message) for m in excluded)
        )

    return predicate


# JSON patterns -------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))|(?P<str>\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<sel>\$[\w.\[\]$-]*)|(?P<word>[^\s()&|=!<>\"]+))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PatternError(f"unexpected text in JSON filter pattern: {text[pos:]!r}")
        kind = match.lastgroup or "word"
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _select(doc: Any, selector: str) -> Any:
    value = doc
    for part in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", selector[1:]):
        key, index = part
        if key:
            if not isinstance(value, dict) or key not in value:
                return _MISSING
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
    return value


def _compare(value: Any, op: str, literal: str, quoted: bool) -> bool:
    if value is _MISSING:
        return False
    number = None if quoted else _number(literal)
    if number is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return {
            "=": value == number,
            "!=": value != number,
            "<": value < number,
            ">": value > number,
            "<=": value <= number,
            ">=": value >= number,
        }[op]
    if op not in ("=", "!="):
        return False
    if not isinstance(value, str):
        return op == "!="
    equal = fnmatch.fnmatchcase(value, literal) if "*" in literal else value == literal
    return equal if op == "=" else not equal


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class _Parser:
    """Recursive descent: or := and ('||' and)*; and := atom ('&&' atom)*."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PatternError("the JSON filter pattern ends too early")
        self.pos += 1
        return token

    def parse(self) -> Callable[[Any], bool]:
        expr = self.or_expr()
        if self.peek() is not None:
            raise PatternError(f"unexpected {self.peek()[1]!r} in JSON filter pattern")  # type: ignore[index]
        return expr

    def or_expr(self) -> Callable[[Any], bool]:
        parts = [self.and_expr()]
        while self.peek() == ("op", "||"):
            self.take()
            parts.append(self.and_expr())
        return lambda doc: any(p(doc) for p in parts)

    def and_expr(self) -> Callable[[Any], bool]:
        parts = [self.atom()]
        while self.peek() == ("op", "&&"):
            self.take()
            parts.append(self.atom())
        return lambda doc: all(p(doc) for p in parts)

    def atom(self) -> Callable[[Any], bool]:
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            inner = self.or_expr()
            if self.take() != ("op", ")"):
                raise PatternError("a ( in the JSON filter pattern is not closed")
            return inner
        if kind != "sel":
            raise PatternError(f"expected a $. selector, found {value!r}")
        selector = value
        kind, op = self.take()
        if (kind, op.upper()) == ("word", "IS"):
            return self._is(selector)
        if (kind, op.upper()) == ("word", "NOT"):
            if self.take()[1].upper() != "EXISTS":
                raise PatternError("expected NOT EXISTS")
            return lambda doc: _select(doc, selector) is _MISSING
        if kind != "op" or op not in ("=", "!=", "<", ">", "<=", ">="):
            raise PatternError(f"expected a comparison after {selector}, found {op!r}")
        kind, literal = self.take()
        quoted = kind == "str"
        if quoted:
            literal = literal[1:-1].replace('\\"', '"')
        return lambda doc: _compare(_select(doc, selector), op, literal, quoted)

    def _is(self, selector: str) -> Callable[[Any], bool]:
        word = self.take()[1].upper()
        wanted = {"TRUE": True, "FALSE": False, "NULL": None}
        if word not in wanted:
            raise PatternError("expected IS TRUE, IS FALSE or IS NULL")
        target = wanted[word]
        return lambda doc: (v := _select(doc, selector)) is not _MISSING and v is target


def _json_predicate(body: str) -> Predicate:
    expr = _Parser(_tokens(body)).parse()

    def predicate(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False  # CloudWatch: a JSON pattern matches only JSON log events
        return isinstance(doc, (dict, list)) and expr(doc)

    return predicate
