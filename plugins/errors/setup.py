"""Corefile syntax of *errors* (CoreDNS ``plugin/errors/setup.go``).

::

    errors [stdout] {
        stacktrace
        consolidate DURATION REGEXP [warning|error|info|debug] [show_first]
    }

Once per server block. The only argument accepted is ``stdout`` (errors always go to standard
output). ``DURATION`` is a Go duration and ``REGEXP`` a Go regular expression of at most 10000
bytes; both are checked here with Go's own error messages. The level, if given, must come
before ``show_first``. Errors are reported as CoreDNS reports them: ``Corefile:N - Error during
parsing: ...`` at the offending token, prefixed ``plugin/errors: ``.
"""

from __future__ import annotations

import functools

from clusterdns.controller import Controller

from .errors import Consolidator, Errors
from .goregexp import GoRegexpError, UnsupportedRegexpError, compile_go
from clusterdns.duration import DurationError, parse_duration
from .options import DEFAULT_LEVEL, LEVELS, MAX_REGEXP_LENGTH_BYTES, ConsolidateRule, ErrorsOptions


def parse(c: Controller) -> ErrorsOptions:
    """Read the directive's tokens into options; raise CoreDNS's errors for bad ones."""
    d = c.dispenser
    stacktrace = False
    rules: list[ConsolidateRule] = []
    seen = 0
    while d.next():
        if seen:
            raise c.once_error()
        seen += 1
        args = d.remaining_args()
        if len(args) == 1 and args[0] != "stdout":
            raise d.errf("invalid log file: %s", args[0])
        if len(args) > 1:
            raise d.arg_err()
        while d.next_block():
            option = d.val()
            if option == "stacktrace":
                stacktrace = True
            elif option == "consolidate":
                rules.append(_parse_consolidate(c))
            else:
                raise d.syntax_err("Unknown field " + option)
    return ErrorsOptions(stacktrace=stacktrace, consolidate=tuple(rules))


def _parse_consolidate(c: Controller) -> ConsolidateRule:
    d = c.dispenser
    args = d.remaining_args()
    if not 2 <= len(args) <= 4:
        raise d.arg_err()
    try:
        period_ns = parse_duration(args[0])
    except DurationError as exc:
        raise d.err(str(exc)) from exc
    text = args[1]
    length = len(text.encode("utf-8", "surrogatepass"))
    if length > MAX_REGEXP_LENGTH_BYTES:
        raise d.errf("regex pattern too long: %d > %d", length, MAX_REGEXP_LENGTH_BYTES)
    try:
        regexp = compile_go(text)
    except (GoRegexpError, UnsupportedRegexpError) as exc:
        raise d.err(str(exc)) from exc
    level: str | None = None
    show_first = False
    for arg in args[2:]:
        if arg in LEVELS:
            if level is not None:
                raise d.errf("multiple log levels specified in consolidate")
            if show_first:
                raise d.errf("log level must come before show_first in consolidate")
            level = arg
        elif arg == "show_first":
            show_first = True
        else:
            raise d.errf("unknown option in consolidate: %s", arg)
    return ConsolidateRule(
        period_ns=period_ns,
        regexp_text=text,
        regexp=regexp,
        level=level or DEFAULT_LEVEL,
        show_first=show_first,
    )


def setup(c: Controller) -> None:
    options = parse(c)
    consolidator = Consolidator(options.consolidate)
    c.on_shutdown(consolidator.stop)
    if options.stacktrace:
        # CoreDNS sets the server's Stacktrace: recovered panics are logged with a stack.
        c.config.stacktrace = True
    c.add_plugin(functools.partial(Errors, options=options, consolidator=consolidator))
