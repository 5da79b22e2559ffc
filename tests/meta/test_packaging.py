"""Packaging: plugins/ installs as clusterdns.plugins, and the registry matches the folders."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

from clusterdns import registry

ROOT = Path(__file__).resolve().parents[2]


def _plugin_folders() -> set[str]:
    return {p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py")}


def test_every_plugin_folder_is_a_listed_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(config["tool"]["setuptools"]["packages"])
    assert {f"clusterdns.plugins.{name}" for name in _plugin_folders()} <= packages
    assert config["tool"]["setuptools"]["package-dir"] == {"clusterdns.plugins": "plugins"}
    assert not any(p == "plugins" or p.startswith("plugins.") for p in packages)


def test_registry_names_exactly_the_plugin_folders() -> None:
    modules = {module.rsplit(".", 1)[1] for _, module in registry.DIRECTIVES}
    assert modules == _plugin_folders()


def test_every_directive_imports_and_has_setup() -> None:
    for directive, module in registry.DIRECTIVES:
        assert callable(importlib.import_module(module).setup), directive


def test_installed_package_has_no_top_level_plugins(tmp_path: Path) -> None:
    # Run outside the checkout: from the repository root the plugins/ folder is on sys.path.
    script = "import importlib.util as u; print(u.find_spec('plugins') is None, u.find_spec('clusterdns.plugins.hosts') is not None)"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.stdout.split() == ["True", "True"], result.stderr


def test_registry_follows_coredns_plugin_cfg_order() -> None:
    # CoreDNS 1.14.7 plugin.cfg order of the directives this project implements.
    coredns_order = [
        "root", "reload", "bind", "debug", "ready", "health", "prometheus", "errors", "log",
        "any", "loadbalance", "rewrite", "autopath", "acl", "cache", "template", "transfer",
        "hosts", "k8s_external", "kubernetes", "loop", "forward", "whoami",
    ]
    ours = registry.names()
    assert ours == [name for name in coredns_order if name in ours]
