"""What a ``kubernetes`` stanza configures, and the Kubernetes label-selector language it takes.

``KubernetesOptions`` is the frozen result of parsing the stanza (``setup.parse``); the handler
and the data sources read it and nothing else. Defaults carry CoreDNS's values (``setup.go``
``ParseStanza``, ``kubernetes.go`` ``New``).

``labels`` and ``namespace_labels`` take a label selector. CoreDNS parses it with
apimachinery's ``metav1.ParseToLabelSelector`` at setup and fails with its message, so the same
grammar (``labels.Parse``: ``k=v``, ``k==v``, ``k in (a,b)``, ``k notin (a)``, ``k``, ``!k``;
``!=``, ``>`` and ``<`` lex but are refused by the conversion) is parsed here. The parsed
``LabelSelector`` prints in apimachinery's canonical form (requirements sorted by key, ``==``
written ``=``, set values sorted), which is what an API server list/watch takes, and can match
a label set for data sources that filter locally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

#: CoreDNS ``defaultTTL``: the TTL of every record except ``dns-version`` TXT.
DEFAULT_TTL_SECONDS: Final = 5
#: ``ttl`` accepts [0, 3600].
MAX_TTL_SECONDS: Final = 3600
#: The longest wait for the first sync before listeners open (``startup_timeout``).
DEFAULT_STARTUP_TIMEOUT_SECONDS: Final = 5.0

POD_MODE_DISABLED: Final = "disabled"
POD_MODE_INSECURE: Final = "insecure"
POD_MODE_VERIFIED: Final = "verified"
POD_MODES: Final = (POD_MODE_DISABLED, POD_MODE_INSECURE, POD_MODE_VERIFIED)


# --- label selectors (apimachinery pkg/labels/selector.go, metav1 ParseToLabelSelector) -------

OP_EQUALS: Final = "="
OP_IN: Final = "in"
OP_NOT_IN: Final = "notin"
OP_EXISTS: Final = "exists"
OP_DOES_NOT_EXIST: Final = "!"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement of a selector, in metav1 terms (``==`` folded into ``=``)."""

    key: str
    operator: str  # one of the OP_* constants
    values: tuple[str, ...] = ()  # sorted, deduplicated

    def __str__(self) -> str:
        if self.operator == OP_EXISTS:
            return self.key
        if self.operator == OP_DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator == OP_EQUALS:
            return f"{self.key}={self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator in (OP_EQUALS, OP_IN):
            return value is not None and value in self.values
        if self.operator == OP_NOT_IN:
            return value is None or value not in self.values
        if self.operator == OP_EXISTS:
            return value is not None
        return value is None


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector; ``str()`` is apimachinery's canonical form."""

    requirements: tuple[Requirement, ...]

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


class SelectorError(ValueError):
    """A selector apimachinery rejects; ``str()`` is its message."""


# Lexer tokens (selector.go Token) and the literals that map to them.
_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_LITERALS: Final = {
    ")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN, "<": _LT,
    "!=": _NEQ, "notin": _NOTIN, "(": _OPEN,
}  # fmt: skip
_SPECIAL: Final = frozenset("=!(),><")
_WHITESPACE: Final = frozenset(" \t\r\n")
_BINARY_OPERATORS: Final = "in, notin, =, ==, !=, gt, lt"
_OPERATOR_NAMES: Final = {_IN: "in", _NOTIN: "notin", _EQ: "=", _DEQ: "==", _NEQ: "!=", _GT: "gt", _LT: "lt"}

_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME: Final = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_FMT: Final = f"({_QUALIFIED_NAME_FMT})?"
_DNS1123_SUBDOMAIN_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN: Final = re.compile(_DNS1123_SUBDOMAIN_FMT)
_QUALIFIED_NAME_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    """apimachinery ``validation.RegexError``."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}'," for e in examples)
    return f"{message} (e.g. {shown} regex used for validation is '{fmt}')"


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key_errors(key: str) -> list[str]:
    """apimachinery ``validation.IsQualifiedName``."""
    errors: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errors.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN.fullmatch(prefix):
                errors.append(
                    "prefix part "
                    + _regex_error(
                        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                        "characters, '-' or '.', and must start and end with an alphanumeric character",
                        _DNS1123_SUBDOMAIN_FMT,
                        "example.com",
                    )
                )
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def _value_errors(value: str) -> list[str]:
    """apimachinery ``validation.IsValidLabelValue``."""
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if value and not _QUALIFIED_NAME.fullmatch(value):
        errors.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errors


def _lex(text: str) -> list[tuple[int, str]]:
    """selector.go ``Lexer``: the whole token stream, ending in end-of-string."""
    items: list[tuple[int, str]] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= size:
            items.append((_EOS, ""))
            return items
        if text[pos] in _SPECIAL:
            buffer, found = "", (0, "")
            while pos < size and text[pos] in _SPECIAL:
                candidate = buffer + text[pos]
                token = _LITERALS.get(candidate)
                if token is not None:
                    buffer, found = candidate, (token, candidate)
                    pos += 1
                elif found[0]:
                    break
                else:
                    buffer = candidate
                    pos += 1
            if not found[0]:
                items.append((_ERROR, f"error expected: keyword found '{buffer}'"))
            else:
                items.append(found)
            continue
        start = pos
        while pos < size and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        items.append((_LITERALS.get(word, _ID), word))


class _Parser:
    """selector.go ``Parser``: recursive descent over the scanned items."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def _look(self, values: bool = True) -> tuple[int, str]:
        token, literal = self.items[self.position]
        if values and token in (_IN, _NOTIN):
            token = _ID
        return token, literal

    def _take(self, values: bool = True) -> tuple[int, str]:
        item = self._look(values)
        self.position += 1
        return item

    def parse(self) -> list[tuple[str, int, list[str]]]:
        requirements = []
        while True:
            token, literal = self._look()
            if token in (_ID, _NOT):
                try:
                    requirements.append(self._requirement())
                except SelectorError as exc:
                    raise SelectorError(f"unable to parse requirement: {exc}") from None
                token, literal = self._take()
                if token == _EOS:
                    return requirements
                if token == _COMMA:
                    after, after_literal = self._look()
                    if after not in (_ID, _NOT):
                        raise SelectorError(f"found '{after_literal}', expected: identifier after ','")
                    continue
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            if token == _EOS:
                return requirements
            raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> tuple[str, int, list[str]]:
        operator = 0
        token, literal = self._take()
        if token == _NOT:
            operator = _NOT
            token, literal = self._take()
        if token != _ID:
            raise SelectorError(f"found '{literal}', expected: identifier")
        errors = _key_errors(literal)
        if errors:
            raise SelectorError(f'<nil>: Invalid value: {_go_quote(literal)}: {"; ".join(errors)}')
        key = literal
        if operator == _NOT:  # "!key" is complete; whatever follows is the caller's problem
            return key, _NOT, []
        following, _ = self._look()
        if following in (_EOS, _COMMA):
            return key, -1, []
        token, literal = self._take(values=False)
        if token not in _OPERATOR_NAMES:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        if token in (_IN, _NOTIN):
            values = self._values()
        else:
            values = self._exact_value()
        for index, value in enumerate(values):
            errors = _value_errors(value)
            if errors:
                raise SelectorError(
                    f"values[{index}][{key}]: Invalid value: {_go_quote(value)}: {'; '.join(errors)}"
                )
        return key, token, values

    def _values(self) -> list[str]:
        token, literal = self._take()
        if token != _OPEN:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._look()
        if token in (_ID, _COMMA):
            values = self._identifiers()
            if self._take()[0] != _CLOSE:
                raise SelectorError(f"found '{literal}', expected: ')'")
            return sorted(values)
        if token == _CLOSE:
            self._take()
            return [""]
        raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self._take()
            if token == _ID:
                values.add(literal)
                after, after_literal = self._look()
                if after == _COMMA:
                    continue
                if after == _CLOSE:
                    return values
                raise SelectorError(f"found '{after_literal}', expected: ',' or ')'")
            if token == _COMMA:
                if not values:
                    values.add("")
                after, _ = self._look()
                if after == _CLOSE:
                    values.add("")
                    return values
                if after == _COMMA:
                    self._take()
                    values.add("")
                continue
            raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> list[str]:
        token, _ = self._look()
        if token in (_EOS, _COMMA):
            return [""]
        token, literal = self._take()
        if token == _ID:
            return [literal]
        raise SelectorError(f"found '{literal}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """metav1 ``ParseToLabelSelector`` then ``LabelSelectorAsSelector``; SelectorError if invalid."""
    try:
        parsed = _Parser(text).parse()
    except SelectorError as exc:
        raise SelectorError(f'couldn\'t parse the selector string "{text}": {exc}') from None
    match_labels: dict[str, str] = {}
    expressions: list[Requirement] = []
    for key, token, values in sorted(parsed, key=lambda item: item[0]):
        if token in (_EQ, _DEQ):
            match_labels[key] = values[0]
        elif token == _IN:
            expressions.append(Requirement(key, OP_IN, tuple(values)))
        elif token == _NOTIN:
            expressions.append(Requirement(key, OP_NOT_IN, tuple(values)))
        elif token == -1:
            expressions.append(Requirement(key, OP_EXISTS))
        elif token == _NOT:
            expressions.append(Requirement(key, OP_DOES_NOT_EXIST))
        elif token in (_GT, _LT):
            raise SelectorError(f'"{_OPERATOR_NAMES[token]}" isn\'t supported in label selectors')
        else:
            raise SelectorError(f'"{_OPERATOR_NAMES[token]}" is not a valid label selector operator')
    requirements = [Requirement(k, OP_EQUALS, (v,)) for k, v in match_labels.items()] + expressions
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


# --- the options ---------------------------------------------------------------------------


def is_reverse(name: str) -> bool:
    """CoreDNS ``dnsutil.IsReverse`` > 0: below ``in-addr.arpa.`` or ``ip6.arpa.`` (not the
    bare suffix itself, exactly as the Go code tests it)."""
    return name.endswith(".in-addr.arpa.") or name.endswith(".ip6.arpa.")


@dataclass(frozen=True, slots=True)
class KubernetesOptions:
    """A parsed ``kubernetes`` stanza."""

    #: normalised zones (``cluster.local.``, ``10.in-addr.arpa.``); at least one non-reverse
    zones: tuple[str, ...] = ("cluster.local.",)
    #: index in ``zones`` of the first non-reverse zone (PTR targets are built in it)
    primary_zone_index: int = 0
    #: API server URL ('' = in-cluster config); only CoreDNS's first URL is kept
    endpoint: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    kubeconfig: str = ""
    kubeconfig_context: str = ""
    namespaces: tuple[str, ...] = ()  # empty: every namespace is exposed
    namespace_labels: LabelSelector | None = None
    labels: LabelSelector | None = None  # applied to the Service, EndpointSlice and Pod watches
    pods: str = POD_MODE_DISABLED
    endpoint_pod_names: bool = False
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    noendpoints: bool = False  # no EndpointSlice watch
    #: fallthrough zones; empty = no fallthrough, ('.',) = every zone
    fall_zones: tuple[str, ...] = ()
    ignore_empty_service: bool = False
    startup_timeout_seconds: float = DEFAULT_STARTUP_TIMEOUT_SECONDS
    apiserver_qps: float = 0.0  # 0 keeps the client's default
    apiserver_burst: int = 0
    apiserver_max_inflight: int = 0
    #: clusterdns only: read the cluster from these manifest files or directories, no API server
    manifests: tuple[str, ...] = ()

    @property
    def primary_zone(self) -> str:
        return self.zones[self.primary_zone_index]

    @property
    def watch_pods(self) -> bool:
        """Whether Pods must be watched (only ``pods verified`` reads them)."""
        return self.pods == POD_MODE_VERIFIED
