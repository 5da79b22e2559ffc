"""The log README: man-page sections, and every example starts and logs as described."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clusterdns.testing import LogLines, query, run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "log" / "README.md"
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)

# What each example logs for a successful "example.org. A" query over TCP answered by whoami.
LOGGED = [
    re.compile(r"\[INFO\] tcp Request: example\.org\. A - -"),
    re.compile(r'\[INFO\] 127\.0\.0\.1:\d+ - \d+ "A IN example\.org\. tcp \d+ (true|false) 65535" NOERROR qr,aa,rd 91 [0-9.]+s'),
    re.compile(r"\[INFO\] tcp Request: example\.org\. A \d+"),
    None,  # class denial: a success is not logged
    None,  # class denial error
    re.compile(r'\[INFO\] 127\.0\.0\.1:\d+ - .* NOERROR qr,aa,rd 91 [0-9.]+s'),
    re.compile(r'\[INFO\] 127\.0\.0\.1:\d+ - .* NOERROR qr,aa,rd 91 [0-9.]+s'),
]


def test_readme_has_the_man_page_sections() -> None:
    text = README.read_text()
    for section in ("## Name", "## Description", "## Syntax", "## Log Format", "## Examples"):
        assert section in text
    assert len(EXAMPLES) == len(LOGGED)


@pytest.mark.parametrize(
    ("corefile", "expected"), list(zip(EXAMPLES, LOGGED)), ids=[f"example-{i}" for i in range(len(LOGGED))]
)
async def test_example_starts_and_logs(lines: LogLines, corefile: str, expected: re.Pattern[str] | None) -> None:
    async with run_corefile(corefile) as srv:
        await query(srv.port, "example.org", "A", tcp=True)
    if expected is None:
        assert lines.lines == []
    else:
        (line,) = lines.lines
        assert expected.fullmatch(line), line
