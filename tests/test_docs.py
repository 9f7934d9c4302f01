"""The documentation is checked against the code, so neither drifts (datasette's test_docs)."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup

from ledger.contract_errors import ERRORS, RegistryError
from ledger.errors import VeritagError
from ledger.settings import Settings
from veritag.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
INTERFACE = ROOT / "contracts" / "IProvenanceRegistry.sol"
REGISTRY_ARTIFACT = ROOT / "ledger" / "artifacts" / "ProvenanceRegistry.json"

OPENZEPPELIN_ERRORS = re.compile(
    r"Ownable\w+|InvalidShortString|StringTooLong|AddressEmptyCode|FailedCall"
)
"""Errors the registry inherits from OpenZeppelin: declared and documented upstream."""

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str, language: str | None = None) -> list[str]:
    """The fenced code blocks of ``markdown`` (only those marked ``language``, if given)."""
    return [code for lang, code in _FENCE.findall(markdown) if language in (None, lang)]


def section(markdown: str, title: str) -> str:
    """The text under ``## title`` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match[1]


def commands_of(block: str) -> list[str]:
    """Shell commands of a code block, one per line, comments dropped."""
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in block.splitlines())
    return [line for line in lines if line]


# ───────────── README: first commands, settings ─────────────


def test_readme_starts_with_exactly_two_commands() -> None:
    first = code_blocks(README)[0]

    assert README.index(first) < README.index("\n## ")  # before any section
    assert commands_of(first) == [
        "./scripts/setup.sh && .venv/bin/veritag serve --demo",
        "./scripts/setup.sh && ./scripts/test.sh",
    ]


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = commands_of((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    ci_command = [c for c in ci if not c.startswith(("set ", "cd "))]

    assert ci_command == [commands_of(code_blocks(README)[0])[1]]


def readme_settings() -> dict[str, str]:
    """Variable → meaning, from the README's settings table."""
    rows = re.findall(r"^\| `(VERITAG_\w+)` \| (.+?) \|$", section(README, "Settings"), re.M)
    return dict(rows)


def test_every_setting_is_in_the_readme_settings_table() -> None:
    documented = readme_settings()

    missing = [
        f"VERITAG_{name.upper()}"
        for name in Settings.model_fields
        if f"VERITAG_{name.upper()}" not in documented
    ]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_every_variable_in_the_settings_table_is_read_somewhere() -> None:
    settings = {f"VERITAG_{name.upper()}" for name in Settings.model_fields}
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for package in ("ledger", "api", "veritag", "tests")
        for path in (ROOT / package).rglob("*.py")
        if path.resolve() != Path(__file__).resolve()
    )

    unread = [v for v in readme_settings() if v not in settings and f'"{v}"' not in sources]
    assert unread == []


# ───────────── errors ─────────────


def documented_interface_errors() -> dict[str, bool]:
    """Every ``error`` of the interface → whether a ``/// @notice`` comment precedes it."""
    text = INTERFACE.read_text(encoding="utf-8")
    found = re.findall(r"((?:^[ \t]*///[^\n]*\n)*)^[ \t]*error[ \t]+(\w+)[ \t]*\(", text, re.M)
    return {name: "@notice" in natspec for natspec, name in found}


def test_every_interface_error_has_a_notice() -> None:
    declared = documented_interface_errors()

    assert declared  # the pattern still finds the declarations
    assert [name for name, documented in declared.items() if not documented] == []


def test_every_contract_error_class_is_a_documented_interface_error_or_openzeppelins() -> None:
    declared = documented_interface_errors()

    undocumented = [
        name
        for name in ERRORS
        if not declared.get(name) and not OPENZEPPELIN_ERRORS.fullmatch(name)
    ]
    assert undocumented == []


def test_every_interface_error_has_a_contract_error_class() -> None:
    assert sorted(set(documented_interface_errors()) - set(ERRORS)) == []


def test_openzeppelin_errors_with_a_class_are_in_the_registry_abi() -> None:
    abi = json.loads(REGISTRY_ARTIFACT.read_text(encoding="utf-8"))["abi"]
    in_abi = {entry["name"] for entry in abi if entry["type"] == "error"}

    borrowed = {name for name in ERRORS if OPENZEPPELIN_ERRORS.fullmatch(name)}
    assert borrowed  # the exemption above is in use
    assert borrowed - in_abi == set()


def ledger_error_classes() -> list[type[VeritagError]]:
    """VeritagError and every subclass defined in a module of ``ledger``."""
    for module in pkgutil.walk_packages([str(ROOT / "ledger")], "ledger."):
        importlib.import_module(module.name)
    found: list[type[VeritagError]] = []
    pending: list[type[VeritagError]] = [VeritagError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("ledger.") and cls not in found:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_ledger_error_class_has_its_own_docstring() -> None:
    # A contract error's documentation is its `/// @notice` in the interface (checked above)
    # and its message template; every other error explains itself in a docstring.
    classes = [c for c in ledger_error_classes() if c not in ERRORS.values()]

    assert len(classes) > 10  # the walk found the hierarchy
    assert [c.__qualname__ for c in classes if not (c.__dict__.get("__doc__") or "").strip()] == []


def test_every_contract_error_class_has_its_own_message_template() -> None:
    generic = RegistryError.template

    assert [
        n for n, c in ERRORS.items() if "template" not in c.__dict__ or c.template == generic
    ] == []


# ───────────── architecture ─────────────


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_ledger_never_imports_api() -> None:
    sources = sorted((ROOT / "ledger").rglob("*.py"))
    offending = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources
        for name in sorted(imported_modules(path))
        if name == "api" or name.startswith("api.")
    ]

    assert sources
    assert offending == []


def test_import_scan_sees_api_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import api.app\nfrom api import routes\nif True:\n    import apis\n")

    assert imported_modules(sample) == {"api.app", "api", "apis"}


# ───────────── the CLI in the README ─────────────


def readme_cli_calls() -> list[list[str]]:
    """Every `veritag …` command in the README's code blocks, as argument lists."""
    calls = []
    for block in code_blocks(README, "sh"):
        for line in commands_of(block):
            for command in re.split(r";|&&", line):
                words = shlex.split(command.replace("…", ""))
                if words and Path(words[0]).name == "veritag":
                    calls.append(words[1:])
    return calls


@dataclass(frozen=True)
class Resolved:
    """Where a `veritag …` argument list leads in the typer app."""

    path: list[str]
    rest: list[str]
    options: set[str] | None
    """The options of the command reached; None when the words end at a group."""


def resolve(args: list[str]) -> Resolved:
    """Follow ``args`` through the command groups as far as they name commands."""
    command = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while isinstance(command, TyperGroup) and rest:
        # `item transfer|recall|…` in the README lists alternatives: take the first here.
        sub = command.commands.get(rest[0].split("|")[0])
        if sub is None:
            break
        path.append(rest.pop(0).split("|")[0])
        command = sub
    if isinstance(command, TyperGroup):
        return Resolved(path, rest, None)
    return Resolved(path, rest, {opt for param in command.params for opt in param.opts})


def every_command() -> dict[str, str | None]:
    """Every runnable command of the app (``item show``…) → its help text."""
    found: dict[str, str | None] = {}
    pending = [("", typer.main.get_command(app))]
    while pending:
        prefix, command = pending.pop()
        if isinstance(command, TyperGroup):
            pending.extend((f"{prefix} {n}".strip(), c) for n, c in command.commands.items())
        else:
            found[prefix] = command.help
    return found


def test_readme_usage_lists_every_cli_command_it_documents() -> None:
    words = {" ".join(resolve(call).path) for call in readme_cli_calls()}

    expected = {"item show", "item register", "bench gas", "chain start", "demo", "compile"}
    assert expected <= words


@pytest.mark.parametrize("call", readme_cli_calls(), ids=" ".join)
def test_readme_cli_command_exists_with_the_options_it_shows(call: list[str]) -> None:
    found = resolve(call)

    assert found.options is not None, f"`veritag {' '.join(call)}`: no such command"
    words = [word.strip("[]").split("=")[0] for word in found.rest]
    shown = {word for word in words if word.startswith("--")}
    assert shown - found.options == set(), f"`veritag {' '.join(found.path)}`: no such option"


def test_readme_alternatives_are_each_a_command() -> None:
    alternatives = [
        f"{call[0]} {name}"
        for call in readme_cli_calls()
        if len(call) > 1 and "|" in call[1]
        for name in call[1].split("|")
    ]

    assert alternatives  # `item transfer|recall|…`
    assert [name for name in alternatives if name not in every_command()] == []


def test_every_cli_command_has_help_text() -> None:
    commands = every_command()

    assert "item show" in commands
    assert [name for name, text in commands.items() if not (text or "").strip()] == []
