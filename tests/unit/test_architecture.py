"""The layering a newcomer relies on: the domain model imports nothing else of the project, collectors
import neither the runtime nor the exporters, only exporters speak prometheus_client, and optional heavy
libraries (bcrypt, pysnmp, paho-mqtt) load only when their feature is configured."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import modules_after_build

REPO = Path(__file__).resolve().parents[2]


def imports(package: str) -> dict[str, set[str]]:
    """module path -> top-level names it imports (absolute imports, at any depth of the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{module} imports {name}" for module, names in imports(package).items() for name in sorted(names)
            if name.split(".")[0] in forbidden or any(name.startswith(f + ".") for f in forbidden)]


def test_collectors_import_neither_the_runtime_nor_the_exporters() -> None:
    assert offenders("collectors", ("daemon", "exporters")) == []


def test_the_domain_model_imports_nothing_else_of_the_project() -> None:
    bad = [f"{module} imports {name}" for module, names in imports("collectors/model").items()
           for name in sorted(names) if name.split(".")[0] in ("daemon", "exporters")
           or (name.startswith("collectors.") and not name.startswith("collectors.model"))]
    assert bad == []


def test_only_exporters_speak_prometheus_client() -> None:
    assert offenders("collectors", ("prometheus_client",)) == []
    assert offenders("daemon", ("prometheus_client",)) == []


def test_every_source_package_registers_a_section_and_is_found() -> None:
    from collectors.registry import sources

    found = {source.section.name for source in sources()}
    packages = {p.parent.name for p in (REPO / "collectors").glob("*/__init__.py")} - {"model", "kit"}
    assert found == {"nics" if p == "nic" else p for p in packages}


def test_bcrypt_pysnmp_and_paho_load_only_when_configured() -> None:
    assert {"bcrypt", "pysnmp", "paho"} & modules_after_build(None, exporters=True) == set()
