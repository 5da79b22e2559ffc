"""Go (RE2) regular expressions, for ``consolidate DURATION REGEXP``.

CoreDNS compiles REGEXP with Go's ``regexp.Compile`` and tests each error text with
``MatchString``. A Corefile written for CoreDNS must therefore be accepted, rejected (with Go's
``error parsing regexp: <code>: `<expr>``` message) and matched the way Go would, and Python's
``re`` differs in all three: it accepts look-arounds and back-references that Go rejects, reads
``$`` as "end or before a final newline", ``\\d``/``\\s``/``\\w``/``\\b`` as Unicode classes, and
knows neither ``\\z``, ``\\Q...\\E``, ``[[:alpha:]]``, ``\\pL`` nor the ``U`` flag.

So this module walks the pattern the way Go's ``regexp/syntax`` parser does (Perl flags:
one-line anchors, ``[^x]`` matching newline, Perl and Unicode classes), raising Go's errors at
the same places with the same offending text, and writes an equivalent Python pattern as it
goes. Only whether a pattern matches somewhere is ever asked, so greediness and capture
numbering are irrelevant and every group becomes ``(?:...)``.

Not reproduced: Unicode *script* classes (``\\p{Greek}``; Python's ``unicodedata`` has no
script property; such a pattern is refused with a clear message), and Go's "expression too
large" limits (patterns are at most 10000 characters here, as in CoreDNS).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Final

MAX_RUNE: Final = 0x10FFFF
MAX_REPEAT: Final = 1000  # regexp/syntax maxRepeat

# Parser flags (regexp/syntax Flags, the subset that changes the meaning of a pattern).
FOLD_CASE: Final = 1
DOT_NL: Final = 2
ONE_LINE: Final = 4
NON_GREEDY: Final = 8

# Error codes (regexp/syntax ErrorCode), worded as Go words them.
INVALID_CHAR_RANGE: Final = "invalid character class range"
INVALID_ESCAPE: Final = "invalid escape sequence"
INVALID_NAMED_CAPTURE: Final = "invalid named capture"
INVALID_PERL_OP: Final = "invalid or unsupported Perl syntax"
INVALID_REPEAT_OP: Final = "invalid nested repetition operator"
INVALID_REPEAT_SIZE: Final = "invalid repeat count"
MISSING_BRACKET: Final = "missing closing ]"
MISSING_PAREN: Final = "missing closing )"
MISSING_REPEAT_ARGUMENT: Final = "missing argument to repetition operator"
TRAILING_BACKSLASH: Final = "trailing backslash at end of expression"
UNEXPECTED_PAREN: Final = "unexpected )"

Ranges = tuple[tuple[int, int], ...]

# Perl classes (regexp/syntax perl_groups.go): ASCII only, unlike Python's.
_DIGIT: Final[Ranges] = ((0x30, 0x39),)
_SPACE: Final[Ranges] = ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))
_WORD: Final[Ranges] = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_PERL_GROUPS: Final[dict[str, tuple[int, Ranges]]] = {
    "\\d": (+1, _DIGIT),
    "\\D": (-1, _DIGIT),
    "\\s": (+1, _SPACE),
    "\\S": (-1, _SPACE),
    "\\w": (+1, _WORD),
    "\\W": (-1, _WORD),
}

_POSIX: Final[dict[str, Ranges]] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_POSIX_GROUPS: Final[dict[str, tuple[int, Ranges]]] = {
    **{f"[:{name}:]": (+1, ranges) for name, ranges in _POSIX.items()},
    **{f"[:^{name}:]": (-1, ranges) for name, ranges in _POSIX.items()},
}

# Unicode general categories as Go names them (unicode.Categories, CategoryAliases).
_CATEGORY_ALIASES: Final = {
    "Other": "C", "Control": "Cc", "Cntrl": "Cc", "Format": "Cf", "Unassigned": "Cn",
    "Privateuse": "Co", "Surrogate": "Cs", "Letter": "L", "Casedletter": "LC",
    "Lowercaseletter": "Ll", "Modifierletter": "Lm", "Otherletter": "Lo",
    "Titlecaseletter": "Lt", "Uppercaseletter": "Lu", "Mark": "M", "Combiningmark": "M",
    "Spacingmark": "Mc", "Enclosingmark": "Me", "Nonspacingmark": "Mn", "Number": "N",
    "Decimalnumber": "Nd", "Digit": "Nd", "Letternumber": "Nl", "Othernumber": "No",
    "Punctuation": "P", "Punct": "P", "Connectorpunctuation": "Pc", "Dashpunctuation": "Pd",
    "Closepunctuation": "Pe", "Finalpunctuation": "Pf", "Initialpunctuation": "Pi",
    "Otherpunctuation": "Po", "Openpunctuation": "Ps", "Symbol": "S", "Currencysymbol": "Sc",
    "Modifiersymbol": "Sk", "Mathsymbol": "Sm", "Othersymbol": "So", "Separator": "Z",
    "Lineseparator": "Zl", "Paragraphseparator": "Zp", "Spaceseparator": "Zs",
}
_CATEGORIES: Final = frozenset(
    "C Cc Cf Cn Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps "
    "S Sc Sk Sm So Z Zl Zp Zs".split()
)

# Go's unicode.Scripts keys. Go looks a name up after canonicalName, so only the keys that are
# already canonical (one capitalised word) can ever be found, and only those are recognised.
_SCRIPTS: Final = frozenset(
    """
    Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak
    Bengali Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian
    Caucasian_Albanian Chakma Cham Cherokee Chorasmian Common Coptic Cuneiform Cypriot
    Cypro_Minoan Cyrillic Deseret Devanagari Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs
    Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi
    Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic
    Inherited Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana
    Kawi Kayah_Li Kharoshthi Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha
    Limbu Linear_A Linear_B Lisu Lycian Lydian Mahajani Makasar Malayalam Mandaic Manichaean
    Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui Meroitic_Cursive
    Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nag_Mundari
    Nandinagari New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki
    Old_Hungarian Old_Italic Old_North_Arabian Old_Permic Old_Persian Old_Sogdian
    Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage Osmanya Pahawh_Hmong Palmyrene
    Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra
    Sharada Shavian Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese
    Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut
    Telugu Thaana Thai Tibetan Tifinagh Tirhuta Toto Ugaritic Vai Vithkuqi Wancho
    Warang_Citi Yezidi Yi Zanabazar_Square
    """.split()
)


class GoRegexpError(ValueError):
    """A pattern Go's parser rejects; ``str()`` is Go's ``*syntax.Error`` text."""

    def __init__(self, code: str, expr: str) -> None:
        self.code = code
        self.expr = expr
        super().__init__(f"error parsing regexp: {code}: `{expr}`")


class UnsupportedRegexpError(ValueError):
    """A pattern Go accepts that this implementation cannot reproduce (script classes)."""


# --- character sets ---------------------------------------------------------------------


def _escape(cp: int) -> str:
    """One code point, written so that it is literal both inside and outside ``[...]``."""
    if cp < 0x80 and (chr(cp).isalnum() or cp == 0x5F):
        return chr(cp)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _set_items(ranges: Ranges) -> str:
    return "".join(
        _escape(lo) if lo == hi else f"{_escape(lo)}-{_escape(hi)}" for lo, hi in ranges
    )


def _negate(ranges: Ranges) -> Ranges:
    """The complement over all runes of a sorted, disjoint set of ranges."""
    out = []
    next_lo = 0
    for lo, hi in sorted(ranges):
        if next_lo <= lo - 1:
            out.append((next_lo, lo - 1))
        next_lo = max(next_lo, hi + 1)
    if next_lo <= MAX_RUNE:
        out.append((next_lo, MAX_RUNE))
    return tuple(out)


@cache
def _category_table() -> dict[str, Ranges]:
    """Ranges of every two-letter general category (computed once, on first ``\\p``)."""
    collected: dict[str, list[tuple[int, int]]] = {}
    previous = ""
    start = 0
    for cp in range(MAX_RUNE + 2):
        category = unicodedata.category(chr(cp)) if cp <= MAX_RUNE else ""
        if category != previous:
            if previous:
                collected.setdefault(previous, []).append((start, cp - 1))
            previous, start = category, cp
    return {name: tuple(ranges) for name, ranges in collected.items()}


def _merge(*groups: Ranges) -> Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(r for group in groups for r in group):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _canonical_name(name: str) -> str:
    """regexp/syntax ``canonicalName``: ``_``, ``-``, space dropped; Capitalised."""
    out = []
    first = True
    for char in name:
        if char in "_- ":
            continue
        if first:
            out.append(char.upper() if "a" <= char <= "z" else char)
            first = False
        else:
            out.append(char.lower() if "A" <= char <= "Z" else char)
    return "".join(out)


def _unicode_table(name: str) -> tuple[Ranges | None, int]:
    """(ranges, sign) of ``\\p{name}`` as Go resolves it; (None, 0) when Go knows no such name."""
    canonical = _canonical_name(name)
    if canonical == "Any":
        return ((0, MAX_RUNE),), +1
    if canonical == "Ascii":
        return ((0, 0x7F),), +1
    table = _category_table()
    if canonical == "Assigned":
        return table.get("Cn", ()), -1
    if canonical == "Lc":
        return _merge(table.get("Lu", ()), table.get("Ll", ()), table.get("Lt", ())), +1
    category = canonical if canonical in _CATEGORIES else _CATEGORY_ALIASES.get(canonical)
    if category == "LC":
        return _unicode_table("Lc")
    if category is not None:
        if len(category) == 1:
            return _merge(*(r for k, r in table.items() if k[0] == category)), +1
        return table.get(category, ()), +1
    if canonical in _SCRIPTS:
        raise UnsupportedRegexpError(
            f"Unicode script classes are not supported in regular expressions: {name}"
        )
    return None, 0


# --- the parser -------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    """A parsed piece as Python text; ``atomic`` if a quantifier may follow it directly."""

    text: str
    atomic: bool = True
    product: int = 1  # largest product of nested {n,m} counts (repeatIsValid)


@dataclass(slots=True)
class _Frame:
    """An open group: finished alternatives, the pieces of the current one, flags to restore."""

    saved_flags: int
    alternatives: list[_Node] = field(default_factory=list)
    items: list[_Node] = field(default_factory=list)

    def concat(self) -> _Node:
        items = self.items
        if len(items) == 1:
            return items[0]
        return _Node(
            "".join(item.text for item in items),
            atomic=False,
            product=max((item.product for item in items), default=1),
        )

    def alternate(self) -> _Node:
        branches = [*self.alternatives, self.concat()]
        if len(branches) == 1:
            return branches[0]
        return _Node(
            "|".join(branch.text for branch in branches),
            atomic=False,
            product=max(branch.product for branch in branches),
        )


def _is_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _unhex(char: str) -> int:
    if char.isascii() and char in "0123456789abcdefABCDEF":
        return int(char, 16)
    return -1


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.n = len(pattern)
        self.flags = ONE_LINE
        self.frames = [_Frame(saved_flags=ONE_LINE)]

    # -- pushing pieces --

    def push(self, node: _Node) -> None:
        self.frames[-1].items.append(node)

    def literal(self, cp: int) -> None:
        text = _escape(cp)
        if self.flags & FOLD_CASE and chr(cp).lower() != chr(cp).upper():
            text = f"(?i:{text})"
        self.push(_Node(text))

    def char_class(self, ranges: Ranges, *, negated: bool = False) -> None:
        text = f"[{'^' if negated else ''}{_set_items(ranges)}]"
        if self.flags & FOLD_CASE:
            text = f"(?i:{text})"
        self.push(_Node(text))

    # -- the main loop (regexp/syntax parse) --

    def parse(self) -> str:
        s, n = self.s, self.n
        pos = 0
        last_repeat = -1  # where the previous piece's repetition operator began, if it was one
        while pos < n:
            repeat = -1
            char = s[pos]
            if char == "(":
                if pos + 1 < n and s[pos + 1] == "?":
                    pos = self.perl_flags(pos)
                else:
                    self.frames.append(_Frame(saved_flags=self.flags))
                    pos += 1
            elif char == "|":
                frame = self.frames[-1]
                frame.alternatives.append(frame.concat())
                frame.items = []
                pos += 1
            elif char == ")":
                self.right_paren()
                pos += 1
            elif char == "^":
                self.push(_Node("\\A" if self.flags & ONE_LINE else "(?m:^)", atomic=False))
                pos += 1
            elif char == "$":
                self.push(_Node("\\Z" if self.flags & ONE_LINE else "(?m:$)", atomic=False))
                pos += 1
            elif char == ".":
                self.push(_Node("(?s:.)" if self.flags & DOT_NL else "."))
                pos += 1
            elif char == "[":
                pos = self.parse_class(pos)
            elif char in "*+?":
                after = self.repeat(char, 0, 0, pos, pos + 1, last_repeat)
                repeat, pos = pos, after
            elif char == "{":
                parsed = self.parse_repeat(pos)
                if parsed is None:  # not a repetition: a literal brace
                    self.literal(ord("{"))
                    pos += 1
                else:
                    low, high, after = parsed
                    if low < 0 or low > MAX_REPEAT or high > MAX_REPEAT or 0 <= high < low:
                        raise GoRegexpError(INVALID_REPEAT_SIZE, s[pos:after])
                    after = self.repeat("{", low, high, pos, after, last_repeat)
                    repeat, pos = pos, after
            elif char == "\\":
                pos = self.backslash(pos)
            else:
                self.literal(ord(char))
                pos += 1
            last_repeat = repeat
        if len(self.frames) != 1:
            raise GoRegexpError(MISSING_PAREN, s)
        return self.frames[0].alternate().text

    def repeat(
        self, op: str, low: int, high: int, before: int, after: int, last_repeat: int
    ) -> int:
        """Apply a repetition operator to the last piece; return the position after it."""
        s = self.s
        if after < self.n and s[after] == "?":
            after += 1  # non-greedy marker: irrelevant to whether a match exists
        if last_repeat >= 0:
            raise GoRegexpError(INVALID_REPEAT_OP, s[last_repeat:after])
        frame = self.frames[-1]
        if not frame.items:
            raise GoRegexpError(MISSING_REPEAT_ARGUMENT, s[before:after])
        sub = frame.items[-1]
        body = sub.text if sub.atomic else f"(?:{sub.text})"
        if op != "{":
            frame.items[-1] = _Node(body + op, product=sub.product)
            return after
        count = high if high >= 0 else low
        if high == 0:
            product = 1
        elif count == 0:
            product = sub.product
        else:
            product = count * sub.product
        if (low >= 2 or high >= 2) and product > MAX_REPEAT:
            raise GoRegexpError(INVALID_REPEAT_SIZE, s[before:after])
        if high == -1:
            quantifier = f"{{{low},}}"
        elif high == low:
            quantifier = f"{{{low}}}"
        else:
            quantifier = f"{{{low},{high}}}"
        frame.items[-1] = _Node(body + quantifier, product=product)
        return after

    def parse_repeat(self, pos: int) -> tuple[int, int, int] | None:
        """``{n}``, ``{n,}`` or ``{n,m}`` at ``pos``: (min, max or -1, end); None if not one."""
        s, n = self.s, self.n
        i = pos + 1
        parsed = self.parse_int(i)
        if parsed is None:
            return None
        low, i = parsed
        if i >= n:
            return None
        if s[i] != ",":
            high = low
        else:
            i += 1
            if i >= n:
                return None
            if s[i] == "}":
                high = -1
            else:
                parsed = self.parse_int(i)
                if parsed is None:
                    return None
                high, i = parsed
                if high < 0:
                    low = -1
        if i >= n or s[i] != "}":
            return None
        return low, high, i + 1

    def parse_int(self, pos: int) -> tuple[int, int] | None:
        """A decimal without leading zeros; -1 for a value of 10**8 or more (Go ``parseInt``)."""
        s, n = self.s, self.n
        if pos >= n or not ("0" <= s[pos] <= "9"):
            return None
        if pos + 1 < n and s[pos] == "0" and "0" <= s[pos + 1] <= "9":
            return None
        end = pos
        while end < n and "0" <= s[end] <= "9":
            end += 1
        value = 0
        for digit in s[pos:end]:
            if value >= 100_000_000:
                value = -1
                break
            value = value * 10 + ord(digit) - 48
        return value, end

    def right_paren(self) -> None:
        if len(self.frames) < 2:
            raise GoRegexpError(UNEXPECTED_PAREN, self.s)
        frame = self.frames.pop()
        inner = frame.alternate()
        self.flags = frame.saved_flags
        self.push(_Node(f"(?:{inner.text})", product=inner.product))

    def perl_flags(self, pos: int) -> int:
        """``(?P<name>``, ``(?<name>``, ``(?flags)`` or ``(?flags:`` at ``pos``."""
        s, n = self.s, self.n
        rest = n - pos
        starts_with_p = rest > 4 and s[pos + 2] == "P" and s[pos + 3] == "<"
        starts_with_name = rest > 3 and s[pos + 2] == "<"
        if starts_with_p or starts_with_name:
            name_start = pos + (4 if starts_with_p else 3)
            end = s.find(">", pos)
            if end < 0:
                raise GoRegexpError(INVALID_NAMED_CAPTURE, s[pos:])
            name = s[name_start:end]
            if not name or not all(c == "_" or _is_alnum(c) for c in name):
                raise GoRegexpError(INVALID_NAMED_CAPTURE, s[pos : end + 1])
            self.frames.append(_Frame(saved_flags=self.flags))
            return end + 1
        t = pos + 2
        flags = self.flags
        sign = +1
        saw_flag = False
        while t < n:
            char = s[t]
            t += 1
            if char == "i":
                flags |= FOLD_CASE
                saw_flag = True
            elif char == "m":
                flags &= ~ONE_LINE
                saw_flag = True
            elif char == "s":
                flags |= DOT_NL
                saw_flag = True
            elif char == "U":
                flags |= NON_GREEDY
                saw_flag = True
            elif char == "-":
                if sign < 0:
                    break
                sign = -1
                flags = ~flags  # so that setting a flag below clears it
                saw_flag = False
            elif char in ":)":
                if sign < 0:
                    if not saw_flag:
                        break
                    flags = ~flags
                if char == ":":
                    self.frames.append(_Frame(saved_flags=self.flags))
                self.flags = flags
                return t
            else:
                break
        raise GoRegexpError(INVALID_PERL_OP, s[pos:t])

    def backslash(self, pos: int) -> int:
        s, n = self.s, self.n
        if pos + 1 < n:
            kind = s[pos + 1]
            if kind == "A":
                self.push(_Node("\\A", atomic=False))
                return pos + 2
            if kind in "bB":
                self.push(_Node(f"(?a:\\{kind})", atomic=False))
                return pos + 2
            if kind == "C":
                raise GoRegexpError(INVALID_ESCAPE, s[pos : pos + 2])
            if kind == "Q":
                end = s.find("\\E", pos + 2)
                literal = s[pos + 2 :] if end < 0 else s[pos + 2 : end]
                for char in literal:
                    self.literal(ord(char))
                return n if end < 0 else end + 2
            if kind == "z":
                self.push(_Node("\\Z", atomic=False))
                return pos + 2
            if kind in "pP":
                ranges, sign, after = self.unicode_class(pos)
                self.char_class(ranges, negated=sign < 0)
                return after
            group = _PERL_GROUPS.get(s[pos : pos + 2])
            if group is not None:
                sign, ranges = group
                self.char_class(ranges, negated=sign < 0)
                return pos + 2
        cp, after = self.escape(pos)
        self.literal(cp)
        return after

    def escape(self, pos: int) -> tuple[int, int]:
        """A single-character escape at ``pos`` (Go ``parseEscape``): (code point, end)."""
        s, n = self.s, self.n
        if pos + 1 >= n:
            raise GoRegexpError(TRAILING_BACKSLASH, "")
        char = s[pos + 1]
        t = pos + 2
        if char in "1234567" and (t >= n or not ("0" <= s[t] <= "7")):
            raise GoRegexpError(INVALID_ESCAPE, s[pos:t])  # a back-reference: unsupported
        if "0" <= char <= "7":
            value = ord(char) - 48
            for _ in range(2):
                if t >= n or not ("0" <= s[t] <= "7"):
                    break
                value = value * 8 + ord(s[t]) - 48
                t += 1
            return value, t
        if char == "x":
            if t >= n:
                raise GoRegexpError(INVALID_ESCAPE, s[pos:t])
            first = s[t]
            t += 1
            if first == "{":
                digits = 0
                value = 0
                while True:
                    if t >= n:
                        raise GoRegexpError(INVALID_ESCAPE, s[pos:t])
                    digit = s[t]
                    t += 1
                    if digit == "}":
                        break
                    v = _unhex(digit)
                    if v < 0:
                        raise GoRegexpError(INVALID_ESCAPE, s[pos:t])
                    value = value * 16 + v
                    if value > MAX_RUNE:
                        raise GoRegexpError(INVALID_ESCAPE, s[pos:t])
                    digits += 1
                if digits == 0:
                    raise GoRegexpError(INVALID_ESCAPE, s[pos:t])
                return value, t
            x = _unhex(first)
            y = -1
            if t < n:
                y = _unhex(s[t])
                t += 1
            if x < 0 or y < 0:
                raise GoRegexpError(INVALID_ESCAPE, s[pos:t])
            return x * 16 + y, t
        simple = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}.get(char)
        if simple is not None:
            return simple, t
        if char < "\x80" and not _is_alnum(char):
            return ord(char), t
        raise GoRegexpError(INVALID_ESCAPE, s[pos:t])

    def unicode_class(self, pos: int) -> tuple[Ranges, int, int]:
        """``\\pX``, ``\\p{Name}``, ``\\P...`` at ``pos``: (ranges, sign, end)."""
        s, n = self.s, self.n
        sign = -1 if s[pos + 1] == "P" else +1
        t = pos + 2
        if t < n and s[t] == "{":
            end = s.find("}", pos)
            if end < 0:
                raise GoRegexpError(INVALID_CHAR_RANGE, s[pos:])
            seq, name, t = s[pos : end + 1], s[pos + 3 : end], end + 1
        else:
            t = min(t + 1, n)
            seq = s[pos:t]
            name = seq[2:]
        if name.startswith("^"):
            sign = -sign
            name = name[1:]
        ranges, table_sign = _unicode_table(name)
        if ranges is None:
            raise GoRegexpError(INVALID_CHAR_RANGE, seq)
        if table_sign < 0:
            sign = -sign
        return ranges, sign, t

    def parse_class(self, pos: int) -> int:
        """A bracketed class at ``pos`` (Go ``parseClass``); returns the end."""
        s, n = self.s, self.n
        whole = s[pos:]
        t = pos + 1
        negated = False
        if t < n and s[t] == "^":
            negated = True
            t += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while t >= n or s[t] != "]" or first:
            first = False
            if n - t > 2 and s[t] == "[" and s[t + 1] == ":":
                close = s.find(":]", t + 2)
                if close >= 0:
                    name = s[t : close + 2]
                    group = _POSIX_GROUPS.get(name)
                    if group is None:
                        raise GoRegexpError(INVALID_CHAR_RANGE, name)
                    sign, members = group
                    ranges.extend(members if sign > 0 else _negate(members))
                    t = close + 2
                    continue
            if n - t >= 2 and s[t] == "\\" and s[t + 1] in "pP":
                members, sign, t = self.unicode_class(t)
                ranges.extend(members if sign > 0 else _negate(members))
                continue
            group = _PERL_GROUPS.get(s[t : t + 2]) if n - t >= 2 else None
            if group is not None:
                sign, members = group
                ranges.extend(members if sign > 0 else _negate(members))
                t += 2
                continue
            start = t
            low, t = self.class_char(t, whole)
            high = low
            if n - t >= 2 and s[t] == "-" and s[t + 1] != "]":
                high, t = self.class_char(t + 1, whole)
                if high < low:
                    raise GoRegexpError(INVALID_CHAR_RANGE, s[start:t])
            ranges.append((low, high))
        self.char_class(_merge(tuple(ranges)), negated=negated)
        return t + 1

    def class_char(self, pos: int, whole: str) -> tuple[int, int]:
        if pos >= self.n:
            raise GoRegexpError(MISSING_BRACKET, whole)
        if self.s[pos] == "\\":
            return self.escape(pos)
        return ord(self.s[pos]), pos + 1


def translate(pattern: str) -> str:
    """The Python pattern matching what Go's ``regexp.MustCompile(pattern)`` matches."""
    return _Parser(pattern).parse()


def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile a Go regular expression; raise ``GoRegexpError`` with Go's message."""
    python = translate(pattern)
    try:
        return re.compile(python)
    except (re.error, RecursionError, OverflowError) as exc:  # pragma: no cover - defensive
        raise UnsupportedRegexpError(f"cannot compile {pattern!r}: {exc}") from exc
