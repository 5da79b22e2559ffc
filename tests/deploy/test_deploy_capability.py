"""Port 53 without root, as the image and the manifest arrange it, tried on this kernel.

The Dockerfile gives its virtual environment's copy of the Python interpreter the file
capability ``cap_net_bind_service=+ep``; deploy/deployment.yaml runs the pod as uid 65532 with
``allowPrivilegeEscalation: false`` (no_new_privs) and capabilities ``drop: [ALL]``, ``add:
[NET_BIND_SERVICE]``. Here the same bytes are written on a copy of this interpreter, and the
container runtime's part is played by a small launcher: it bounds the capability set, drops to
an unprivileged uid keeping NET_BIND_SERVICE permitted (as runc does for an added capability),
sets no_new_privs and execs the interpreter, which tries to bind a UDP socket to port 53 on a
loopback address. Nothing is sent anywhere.

Needs root (to change uid and write a ``security.*`` attribute) and a filesystem with extended
attributes; skipped otherwise.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import DOCKERFILE, capability_snippet

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0, reason="needs root on Linux"
)

UNPRIVILEGED = 65532  # the image's USER
CAP_NET_BIND_SERVICE = 10

LAUNCHER = textwrap.dedent(
    """
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    interpreter, script, bounding_has_cap, permitted_has_cap = sys.argv[1:5]
    PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS = 24, 8, 38
    if bounding_has_cap == "no":  # the pod drops ALL and adds nothing
        assert libc.prctl(PR_CAPBSET_DROP, 10, 0, 0, 0) == 0
    libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(65532)
    os.setuid(65532)
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]
    bits = 1 << 10 if permitted_has_cap == "yes" else 0
    data = (Data * 2)(Data(bits, bits, 0), Data(0, 0, 0))
    assert libc.capset(ctypes.byref(Header(0x20080522, 0)), data) == 0
    assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0  # allowPrivilegeEscalation: false
    try:
        os.execv(interpreter, [interpreter, script])
    except OSError as exc:
        print("exec failed:", os.strerror(exc.errno))
    """
)

BIND = textwrap.dedent(
    """
    import errno, os, socket, sys
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((sys.argv[1] if len(sys.argv) > 1 else os.environ["BIND_HOST"], 53))
        except OSError as exc:
            print("bind failed:", errno.errorcode.get(exc.errno, exc.errno))
        else:
            print("bound", os.getuid())
    """
)


@pytest.fixture(scope="module")
def interpreters() -> Iterator[tuple[Path, Path, Path]]:
    """(plain copy, copy with the Dockerfile's capability, bind script), readable by 65532."""
    root = Path(tempfile.mkdtemp(prefix="clusterdns-cap-", dir="/tmp"))
    try:
        root.chmod(0o755)
        venv = root / "venv"
        subprocess.run(
            [sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)],
            check=True,
            timeout=60,
        )
        plain = venv / "bin" / "python"
        capped = venv / "bin" / "python-capped"
        shutil.copy2(plain, capped)
        code = capability_snippet(DOCKERFILE.read_text())
        code = code.replace("/opt/clusterdns/bin/python", str(capped))
        try:
            exec(code, {})  # the Dockerfile's own line, on the copy
        except OSError as exc:
            pytest.skip(f"no security xattrs here: {exc}")
        script = root / "bind.py"
        script.write_text(BIND)
        for path in root.rglob("*"):
            path.chmod(path.stat().st_mode | 0o005 | (0o001 if path.is_dir() else 0))
        as_unprivileged = (
            f"import os; os.setgid({UNPRIVILEGED}); os.setuid({UNPRIVILEGED}); "
            f"os.execv({str(plain)!r}, [{str(plain)!r}, '-c', 'print(1)'])"
        )
        probe = subprocess.run(
            [sys.executable, "-c", as_unprivileged], capture_output=True, text=True, timeout=30
        )
        if probe.stdout.strip() != "1":
            pytest.skip(f"this interpreter cannot run as uid {UNPRIVILEGED}: {probe.stderr[-300:]}")
        yield plain, capped, script
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_as_pod(interpreter: Path, script: Path, *, bounding: bool, permitted: bool) -> str:
    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(interpreter), str(script),
         "yes" if bounding else "no", "yes" if permitted else "no"],
        capture_output=True, text=True, timeout=30, env={**os.environ, "BIND_HOST": host},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_capability_is_what_setcap_writes(interpreters) -> None:  # type: ignore[no-untyped-def]
    _, capped, _ = interpreters
    assert os.getxattr(capped, "security.capability") == bytes.fromhex(
        "0100000200040000000000000000000000000000"
    )
    getcap = shutil.which("getcap")
    if getcap:
        shown = subprocess.run([getcap, str(capped)], capture_output=True, text=True, timeout=10)
        assert "cap_net_bind_service=ep" in shown.stdout


def test_the_pod_as_shipped_binds_port_53(interpreters) -> None:  # type: ignore[no-untyped-def]
    _, capped, script = interpreters
    out = run_as_pod(capped, script, bounding=True, permitted=True)
    assert out == f"bound {UNPRIVILEGED}"


def test_without_the_file_capability_the_same_pod_cannot(interpreters) -> None:  # type: ignore[no-untyped-def]
    plain, _, script = interpreters
    assert run_as_pod(plain, script, bounding=True, permitted=True) == "bind failed: EACCES"


def test_no_new_privs_honours_only_a_capability_the_pod_was_given(interpreters) -> None:  # type: ignore[no-untyped-def]
    # allowPrivilegeEscalation: false: the file capability cannot add what the container's
    # permitted set lacks, which is why the manifest adds NET_BIND_SERVICE
    _, capped, script = interpreters
    assert run_as_pod(capped, script, bounding=True, permitted=False) == "bind failed: EACCES"


def test_dropping_the_capability_from_the_pod_stops_the_container(interpreters) -> None:  # type: ignore[no-untyped-def]
    # drop: [ALL] without add: the kernel refuses to exec a file whose capability is outside
    # the bounding set
    _, capped, script = interpreters
    out = run_as_pod(capped, script, bounding=False, permitted=False)
    assert out == "exec failed: Operation not permitted"
