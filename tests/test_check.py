"""``clusterdns check``: a Corefile set up without serving, every error at its line, the traps.

Acceptance (issue 6, item 4): each listed trap is caught, and the Corefiles of README.md,
Corefile.example and deploy/ pass. Setting up binds no socket and contacts no API server.
"""

from __future__ import annotations

import io
import os
import re
import socket
import textwrap
import threading
from pathlib import Path

import pytest
import yaml

from clusterdns import check
from clusterdns.server.instance import CorefileSource

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```corefile\n(.*?)```", re.S)

KUBEADM = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . RESOLV {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


@pytest.fixture
def resolv(tmp_path: Path) -> Path:
    """A resolv.conf with a real-looking, non-loopback upstream (never contacted)."""
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 192.0.2.53\nsearch example.internal\n")
    return path


def run(text: str, tmp_path: Path, name: str = "Corefile") -> check.Report:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return check.check(CorefileSource(path.read_text(), str(path)))


def kubeadm(resolv: Path) -> str:
    return KUBEADM.replace("RESOLV", str(resolv))


# --- setting up opens nothing ------------------------------------------------------------


def test_kubeadm_corefile_passes(tmp_path: Path, resolv: Path) -> None:
    report = run(kubeadm(resolv), tmp_path)
    assert report.errors == [] and report.warnings == []


def test_setup_binds_no_socket_and_contacts_no_api_server(
    tmp_path: Path, resolv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an "API server" that counts connections; the Corefile points the plugin at it, both by
    # endpoint and through a kubeconfig
    api = socket.socket()
    api.bind(("127.0.0.1", 0))
    api.listen(8)
    api.setblocking(False)
    url = f"http://127.0.0.1:{api.getsockname()[1]}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    corefile = kubeadm(resolv) + textwrap.dedent(
        f"""\
        cluster.one:1053 {{
            kubernetes cluster.one {{
                endpoint {url}
                pods verified
            }}
        }}
        cluster.two:1053 {{
            kubernetes cluster.two {{
                kubeconfig {kubeconfig} x
            }}
        }}
        """
    )

    opened: list[str] = []

    def refuse(name: str):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            opened.append(name)
            raise AssertionError(f"socket.{name} called while checking")

        return call

    threads = threading.active_count()
    with monkeypatch.context() as patch:
        for method in ("bind", "connect", "connect_ex", "listen", "sendto", "sendall", "send"):
            patch.setattr(socket.socket, method, refuse(method))
        patch.setattr(socket, "create_connection", refuse("create_connection"))
        report = run(corefile, tmp_path)
    assert opened == []
    assert report.errors == [], report.findings
    with pytest.raises(BlockingIOError):
        api.accept()  # nobody connected
    api.close()
    assert threading.active_count() == threads  # no informer, sweeper or health thread


def test_the_in_cluster_stand_in_is_a_note_and_is_undone(tmp_path: Path, resolv: Path) -> None:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        pytest.skip("running in a cluster: the real service account is used")
    from clusterdns.kube import client as kube_client

    before = kube_client.load_configuration
    report = run(kubeadm(resolv), tmp_path)
    (note,) = report.notes
    assert note.line == 7 and "in-cluster service account" in note.message
    assert kube_client.load_configuration is before


def test_a_named_kubeconfig_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    report = run(
        """\
        .:1053 {
            kubernetes cluster.local {
                kubeconfig /nonexistent/kubeconfig
            }
        }
        """,
        tmp_path,
    )
    (error,) = report.errors
    assert error.line == 2 and "kubeconfig /nonexistent/kubeconfig" in error.message


# --- every error, at its line ------------------------------------------------------------


def test_every_setup_error_is_reported_with_its_line(tmp_path: Path, resolv: Path) -> None:
    report = run(
        f"""\
        .:53 {{
            errors
            health {{
               lameduck 5x
            }}
            kubernetes cluster.local in-addr.arpa ip6.arpa {{
               pods wrong
            }}
            forward . {resolv} {{
               max_concurrent -3
            }}
            cache 30 {{
               bogus
            }}
        }}
        """,
        tmp_path,
    )
    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [
        (4, "plugin/health"),
        (7, "plugin/kubernetes"),
        (10, "plugin/forward"),
        (13, "plugin/cache"),
    ]
    assert "wrong value for pods: wrong" in report.errors[1].message
    assert "max_concurrent can't be negative: -3" in report.errors[2].message


def test_errors_from_several_blocks_and_keys(tmp_path: Path) -> None:
    report = run(
        """\
        example.org {
            whoami
        }
        example.org {
            whoami
        }
        example.net:1053 {
            forward . not-a-file-or-address
        }
        """,
        tmp_path,
    )
    lines = {(e.line, e.message) for e in report.errors}
    assert (4, "cannot serve dns://example.org.:53 - it is already defined") in lines
    assert any(line == 8 and "plugin/forward" in message for line, message in lines)


def test_a_syntax_error_stops_at_its_line(tmp_path: Path) -> None:
    report = run(".:53 {\n    whoami\n    nosuchplugin\n}\n", tmp_path)
    (error,) = report.errors
    assert (error.line, error.message) == (3, "Unknown directive 'nosuchplugin'")


def test_an_error_in_an_imported_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "part").write_text("cache {\n    nonsense\n}\n")
    report = run(".:53 {\n    import part\n    whoami\n}\n", tmp_path)
    (error,) = report.errors
    assert error.file == str(tmp_path / "part") and error.line == 2


def test_errors_only_starting_would_find(tmp_path: Path) -> None:
    report = run(
        "tls://example.org {\n    whoami\n}\nexample.net:99999 {\n    whoami\n}\n", tmp_path
    )
    assert [(e.line, e.message) for e in report.errors] == [
        (1, "transport tls:// is not supported, only dns://"),
        (4, "listen dns://:99999: invalid port 99999"),
    ]


# --- the traps ---------------------------------------------------------------------------


@pytest.mark.parametrize("nameserver", ["127.0.0.53", "127.0.0.1", "::1"])
def test_forward_to_a_resolv_conf_with_a_loopback_nameserver(
    tmp_path: Path, nameserver: str
) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {nameserver}\nnameserver 192.0.2.1\n")
    report = run(kubeadm(resolv), tmp_path)
    (warning,) = report.warnings
    assert warning.code == check.LOOP_RESOLV_CONF and warning.line == 13
    assert nameserver in warning.message and "CrashLoopBackOff" in warning.message
    assert report.errors == []


def test_a_resolv_conf_without_loopback_is_fine(tmp_path: Path, resolv: Path) -> None:
    assert check.LOOP_RESOLV_CONF not in run(kubeadm(resolv), tmp_path).codes()


def test_a_literal_loopback_upstream_on_our_own_port_is_a_loop(tmp_path: Path) -> None:
    report = run(
        """\
        .:53 {
            forward example.com 127.0.0.1
            forward . 127.0.0.1:5300 [::1]:53
        }
        """,
        tmp_path,
    )
    assert [(w.line, w.code) for w in report.warnings] == [
        (2, check.LOOP_UPSTREAM),
        (3, check.LOOP_UPSTREAM),
    ]
    assert "[::1]:53" in report.warnings[1].message  # 127.0.0.1:5300 is some other server


CACHE_TRAP = """\
.:53 {{
    kubernetes cluster.local in-addr.arpa ip6.arpa
    cache {cache}
}}
"""


@pytest.mark.parametrize(
    ("cache", "warned"),
    [
        ("30", True),
        ("30 {\n        disable success cluster.local\n    }", True),
        ("30 {\n        disable denial cluster.local\n    }", False),
        ("30 {\n        disable denial\n    }", False),  # every zone
        ("30 {\n        disable denial svc.cluster.local\n    }", True),  # not the whole zone
        ("30 example.org", False),  # this cache is not in front of the cluster zone
    ],
)
def test_cache_in_front_of_kubernetes_without_disable_denial(
    tmp_path: Path, cache: str, warned: bool
) -> None:
    report = run(CACHE_TRAP.format(cache=cache), tmp_path)
    assert report.errors == []
    assert (check.CACHE_DENIAL in report.codes()) is warned
    if warned:
        (warning,) = report.warnings
        assert warning.line == 3 and "disable denial cluster.local" in warning.message


def test_cache_without_kubernetes_in_its_block_is_fine(tmp_path: Path) -> None:
    report = run(
        ".:53 {\n    cache 30\n    whoami\n}\ncluster.local:53 {\n    kubernetes\n}\n", tmp_path
    )
    assert report.codes() == set()


AUTOPATH_TRAP = """\
.:53 {{
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        pods {pods}
    }}
    autopath @kubernetes{block}
}}
"""


@pytest.mark.parametrize(
    ("pods", "block", "warned"),
    [
        ("insecure", "", True),
        ("disabled", "", True),
        ("verified", "", False),
        ("insecure", " {\n        infer_namespace\n    }", False),  # clusterdns's name-based mode
    ],
)
def test_autopath_kubernetes_without_pods_verified(
    tmp_path: Path, pods: str, block: str, warned: bool
) -> None:
    report = run(AUTOPATH_TRAP.format(pods=pods, block=block), tmp_path)
    assert report.errors == []
    assert (check.AUTOPATH_PODS in report.codes()) is warned
    if warned:
        (warning,) = report.warnings
        assert warning.line == 5 and "pods verified" in warning.message


def test_autopath_kubernetes_without_kubernetes(tmp_path: Path) -> None:
    report = run(".:53 {\n    autopath @kubernetes\n    whoami\n}\n", tmp_path)
    (warning,) = report.warnings
    assert warning.code == check.AUTOPATH_PODS and "no kubernetes plugin" in warning.message


# --- the command -------------------------------------------------------------------------


def main(argv: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = check.main(argv, stdin=io.StringIO(stdin), out=out)
    return code, out.getvalue()


def test_exit_codes(tmp_path: Path, resolv: Path) -> None:
    good = tmp_path / "Good"
    good.write_text(kubeadm(resolv))
    trap = tmp_path / "Trap"
    trap.write_text(kubeadm(resolv).replace("disable denial cluster.local", "prefetch 10"))
    bad = tmp_path / "Bad"
    bad.write_text(".:53 {\n    cache zero {\n        success\n    }\n}\n")
    code, out = main(["-conf", str(good)])
    assert code == 0 and out.endswith(f"{good}: OK (0 error(s), 0 warning(s))\n")
    code, out = main([f"--conf={trap}"])
    assert code == 0 and f"{trap}:16: warning: cache in front of kubernetes" in out
    assert main(["-conf", str(trap), "-strict"])[0] == 1
    code, out = main(["-conf", str(bad)])
    assert code == 1 and re.search(rf"^{re.escape(str(bad))}:3: error: plugin/cache: ", out, re.M)
    assert out.endswith("FAILED (1 error(s), 0 warning(s))\n")
    assert main(["-conf", str(tmp_path / "missing")]) == (
        1,
        f"{tmp_path / 'missing'}: error: No such file or directory\n",
    )


def test_stdin_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = main(["-conf", "stdin"], stdin=".:1053 {\n    whoami\n}\n")
    assert code == 0 and out == "stdin: OK (0 error(s), 0 warning(s))\n"
    assert main(["-nonsense"])[0] == 2
    assert main(["stray"])[0] == 2
    assert "Usage of clusterdns check" in capsys.readouterr().err


def test_default_port_flag(tmp_path: Path) -> None:
    (tmp_path / "Corefile").write_text("example.org {\n    whoami\n}\n")
    assert main(["-conf", str(tmp_path / "Corefile"), "-dns.port", "70000"])[0] == 1


# --- the project's own Corefiles ---------------------------------------------------------


def project_corefiles() -> list[tuple[str, str]]:
    found = [("Corefile.example", (ROOT / "Corefile.example").read_text())]
    for index, block in enumerate(FENCE.findall((ROOT / "README.md").read_text())):
        found.append((f"README.md block {index}", block))
    for path in sorted((ROOT / "deploy").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "ConfigMap":
                for key, value in (document.get("data") or {}).items():
                    if key == "Corefile":
                        found.append((f"{path.relative_to(ROOT)}:{key}", value))
    return found


def test_the_project_corefiles_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # Corefile.example names examples/ relative to the checkout
    corefiles = project_corefiles()
    assert len(corefiles) >= 2
    for name, text in corefiles:
        report = check.check(CorefileSource(text, name))
        assert report.errors == [], (name, report.findings)
        # only the trap that depends on this machine's /etc/resolv.conf may show
        assert report.codes() <= {check.LOOP_RESOLV_CONF}, (name, report.findings)
