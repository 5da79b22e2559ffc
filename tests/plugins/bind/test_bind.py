"""bind: listen hosts from addresses and interface names, except, and setup errors."""

from __future__ import annotations

import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.server.config import ListenAddress
from clusterdns.testing import query, run_corefile


async def test_listens_only_on_the_bound_address() -> None:
    async with run_corefile(". {\n bind 127.0.0.1\n whoami\n}\n") as srv:
        [address] = srv.runtime.listeners
        assert address == ListenAddress("dns", "127.0.0.1", 0)
        assert (await query(srv.port, "example.org")).additional
        assert "example" not in srv.out.getvalue()
        assert srv.out.getvalue().splitlines()[0] == f".:{srv.port} on 127.0.0.1"


async def test_several_bind_lines_merge() -> None:
    async with run_corefile(". {\n bind 127.0.0.1\n bind ::1\n whoami\n}\n") as srv:
        hosts = sorted(address.host for address in srv.runtime.listeners)
        assert hosts == ["127.0.0.1", "::1"]
        for listener in srv.runtime.listeners.values():
            host = listener.address.host
            reply = await query(listener.port, "example.org", host=host)
            assert reply.additional[0][0].address == host


async def test_interface_name_expands_and_except_removes() -> None:
    async with run_corefile(". {\n bind lo {\n  except ::1\n }\n whoami\n}\n") as srv:
        assert [a.host for a in srv.runtime.listeners] == ["127.0.0.1"]


async def test_metrics_server_label_names_the_bound_address() -> None:
    async with run_corefile(". {\n bind 127.0.0.1\n whoami\n}\n") as srv:
        [mux] = srv.runtime.instance.muxes.values()  # type: ignore[union-attr]
        assert mux.server == "dns://127.0.0.1:0"


@pytest.mark.parametrize(
    ("corefile", "message"),
    [
        (". {\n bind\n whoami\n}\n", "plugin/bind: at least one address or interface name is expected"),
        (". {\n bind nosuchiface0\n whoami\n}\n", 'plugin/bind: not a valid IP address or interface name: "nosuchiface0"'),
        (". {\n bind 127.0.0.1 {\n  except\n }\n whoami\n}\n", "plugin/bind: at least one address or interface must be given to except subdirective"),
        (". {\n bind 127.0.0.1 {\n  only 1.2.3.4\n }\n whoami\n}\n", 'plugin/bind: invalid option "only"'),
    ],
    ids=["no-args", "bad-name", "empty-except", "bad-option"],
)
async def test_setup_errors(corefile: str, message: str) -> None:
    with pytest.raises(PluginSetupError) as info:
        async with run_corefile(corefile):
            pass
    assert str(info.value) == message
