"""What the deploy tests share: the Dockerfile read as instructions, and the manifests under
deploy/ loaded and validated against the official client's models (the client-side
validation that stands in for ``kubectl apply --dry-run=client``, which needs an API server)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name}, got {len(found)}"
        return found[0]


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults, and the stages in order."""
    global_args: dict[str, str] = {}
    result: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            result.append(Stage(words[0], name, []))
        elif not result:
            assert instruction.keyword == "ARG", "only ARG may come before the first FROM"
            key, _, value = instruction.args.partition("=")
            global_args[key] = value
        else:
            result[-1].instructions.append(instruction)
    return global_args, result


def exec_form(instruction: Instruction) -> list[str]:
    value = json.loads(instruction.args)
    assert isinstance(value, list), f"{instruction.keyword} must use the exec (JSON) form"
    return value


def arg_default(stage: Stage, name: str) -> str:
    for instruction in stage.all("ARG"):
        key, _, value = instruction.args.partition("=")
        if key == name:
            return value.strip('"')
    raise AssertionError(f"no ARG {name} in stage {stage.name}")


def capability_snippet(text: str) -> str:
    """The Python code the Dockerfile runs to set the interpreter's file capability."""
    for instruction in instructions(text):
        if instruction.keyword != "RUN" or "security.capability" not in instruction.args:
            continue
        for command in instruction.args.split("&&"):
            if "security.capability" in command:
                words = shlex.split(command)
                assert words[:2] == ["python", "-c"], command
                return words[2]
    raise AssertionError("the Dockerfile sets no file capability")


# --- manifests ---------------------------------------------------------------------------

#: The apiVersion each kind shipped in deploy/ must have.
API_VERSIONS = {
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1",
}
_PRIMITIVES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": (int, float),
    "datetime": str,
    "date": str,
    "bytearray": str,
}


@dataclass(frozen=True)
class Manifest:
    file: str
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document.get("kind"))

    @property
    def name(self) -> str:
        return str(self.document.get("metadata", {}).get("name"))


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest under deploy/ (kustomization.yaml is kustomize's, not one)."""
    return sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def load_manifests() -> list[Manifest]:
    out = []
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                out.append(Manifest(path.name, document))
    return out


def model_name(document: dict[str, Any]) -> str:
    """The official client's model class for a document: apps/v1 Deployment -> V1Deployment."""
    version = str(document.get("apiVersion", "")).rpartition("/")[2]
    return version[:1].upper() + version[1:] + str(document.get("kind", ""))


def _split_generic(type_name: str) -> tuple[str, str] | None:
    """('list', inner) / ('dict', value type) for both spellings the client generators use."""
    for prefix, kind in (("list[", "list"), ("List[", "list")):
        if type_name.startswith(prefix) and type_name.endswith("]"):
            return kind, type_name[len(prefix) : -1]
    for prefix, suffix in (("dict(", ")"), ("Dict[", "]")):
        if type_name.startswith(prefix) and type_name.endswith(suffix):
            inner = type_name[len(prefix) : -len(suffix)]
            return "dict", inner.split(",", 1)[1].strip()
    return None


def schema_problems(value: Any, type_name: str, path: str) -> list[str]:
    """Every field of ``value`` the model ``type_name`` does not have, or has another type for.

    The client's own deserialiser silently drops unknown fields; this walks the generated
    ``openapi_types``/``attribute_map`` of each model so that a misspelt field is an error,
    as ``kubectl --validate=strict`` makes it.
    """
    from kubernetes.client import models

    problems: list[str] = []
    generic = _split_generic(type_name)
    if generic is not None:
        kind, inner = generic
        if kind == "list":
            if not isinstance(value, list):
                return [f"{path}: expected a list, got {type(value).__name__}"]
            for index, item in enumerate(value):
                problems += schema_problems(item, inner, f"{path}[{index}]")
        else:
            if not isinstance(value, dict):
                return [f"{path}: expected a mapping, got {type(value).__name__}"]
            for key, item in value.items():
                problems += schema_problems(item, inner, f"{path}.{key}")
        return problems
    if type_name == "object":  # IntOrString, RawExtension: anything goes
        return []
    if type_name in _PRIMITIVES:
        expected = _PRIMITIVES[type_name]
        if (isinstance(value, bool) and type_name != "bool") or not isinstance(value, expected):
            return [f"{path}: expected {type_name}, got {type(value).__name__} {value!r}"]
        return []
    klass = getattr(models, type_name, None)
    if klass is None:
        return [f"{path}: the client has no model {type_name}"]
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping, got {type(value).__name__}"]
    fields = {json_name: attribute for attribute, json_name in klass.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}: unknown field (not in {type_name})")
        else:
            problems += schema_problems(item, klass.openapi_types[fields[key]], f"{path}.{key}")
    return problems


def validate(document: dict[str, Any], where: str = "") -> list[str]:
    """Client-side validation of one manifest against the official client's models.

    The walk above (unknown fields, types), then, where the client's models are pydantic
    (kubernetes >= 35), ``Model.model_validate``, which also enforces required fields.
    """
    from kubernetes.client import models

    kind = document.get("kind")
    expected = API_VERSIONS.get(str(kind))
    if expected is None:
        return [f"{where}: unexpected kind {kind!r}"]
    if document.get("apiVersion") != expected:
        return [f"{where}: {kind} is {expected}, not {document.get('apiVersion')!r}"]
    name = model_name(document)
    problems = schema_problems(document, name, where or name)
    klass = getattr(models, name)
    if not problems and hasattr(klass, "model_validate"):
        try:
            klass.model_validate(document)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            problems.append(f"{where}: {exc}")
    return problems
