"""Compile ``contracts/`` with the one pinned solc and ship the artifacts inside the package.

The pipeline, end to end::

    contracts/compiler.json         the only place that pins solc version, evmVersion, optimizer
    contracts/**/*.sol  ──┐
    node_modules/<import path> ─┴─> standard JSON input (imports fed by their import path)
                                     │
                                     ▼
    find_solc()                     native solc of the pinned version if py-solc-x has one,
                                     else scripts/solc.cjs over the npm `solc` package (solc-js)
                                     │
                                     ▼
    ContractArtifact ──> ledger/artifacts/<Name>.json ──> load_artifact(name)

Installed users only ever call :func:`load_artifact`; compiling needs ``node`` and ``npm ci``.
Every artifact records :func:`sources_hash` of the sources it was built from, so
:func:`artifacts_are_stale` can tell, without compiling, whether ``ledger/artifacts`` lags
behind ``contracts/``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from ledger.errors import CompilerError

__all__ = [
    "ARTIFACTS_DIR",
    "CONTRACTS_DIR",
    "NODE_MODULES",
    "PROJECT_ROOT",
    "SOLC_WRAPPER",
    "CompilerSettings",
    "ContractArtifact",
    "artifacts_are_stale",
    "build_standard_input",
    "compile_and_write",
    "compile_contracts",
    "find_solc",
    "load_artifact",
    "sources_hash",
    "write_artifacts",
]

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
NODE_MODULES = PROJECT_ROOT / "node_modules"
SOLC_WRAPPER = PROJECT_ROOT / "scripts" / "solc.cjs"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
SETTINGS_FILE = "compiler.json"

OUTPUTS = [
    "abi",
    "evm.bytecode.object",
    "evm.deployedBytecode.object",
    "metadata",
    "devdoc",
    "userdoc",
    "storageLayout",
]

# Comments (dropped) or string literals (kept), so a commented-out import is not followed.
_COMMENT_OR_STRING = re.compile(
    r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|//[^\n]*|/\*.*?\*/", re.DOTALL
)
# import "p"; import "p" as X; import * as X from "p"; import {A, B as C} from "p";
_IMPORT = re.compile(
    r"\bimport\s*(?:\{[^}]*\}\s*from\s*|\*\s*as\s+[\w$]+\s+from\s*|[\w$]+\s+(?:as\s+[\w$]+\s+)?from\s*)?"
    r"([\"'])(?P<path>[^\"']+)\1"
)
_DECLARATION = re.compile(
    r"(?<![\w$.])(abstract\s+)?(contract|library|interface)\s+([A-Za-z_$][\w$]*)"
)
_CONTRACT_NAME = re.compile(r"[A-Za-z_$][\w$]*")


@dataclass(frozen=True)
class CompilerSettings:
    """The pinned compiler: ``version`` and solc's standard-JSON ``settings``, verbatim."""

    version: str
    settings: dict[str, Any]

    @classmethod
    def load(cls, path: Path = CONTRACTS_DIR / SETTINGS_FILE) -> CompilerSettings:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CompilerError(f"{path} is missing; it pins the compiler version") from None
        except json.JSONDecodeError as exc:
            raise CompilerError(f"{path} is not valid JSON: {exc}") from None
        version = raw.get("version") if isinstance(raw, dict) else None
        settings = raw.get("settings") if isinstance(raw, dict) else None
        if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise CompilerError(f'{path}: "version" must be a solc release like "0.8.28"')
        if not isinstance(settings, dict) or "outputSelection" in settings:
            raise CompilerError(
                f'{path}: "settings" must be an object of solc settings without outputSelection'
            )
        return cls(version=version, settings=settings)

    @property
    def evm_version(self) -> str | None:
        value = self.settings.get("evmVersion")
        return value if isinstance(value, str) else None

    @property
    def via_ir(self) -> bool:
        return bool(self.settings.get("viaIR", False))

    @property
    def optimizer_runs(self) -> int | None:
        optimizer = self.settings.get("optimizer", {})
        if not optimizer.get("enabled", False):
            return None
        runs = optimizer.get("runs", 200)
        return int(runs)


@dataclass(frozen=True)
class ContractArtifact:
    """What solc produced for one contract of ``contracts/``, as shipped in ``ledger/artifacts``."""

    name: str
    source: str  # source unit name, e.g. "contracts/ProvenanceRegistry.sol"
    kind: str  # "contract", "abstract contract", "interface" or "library"
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code; "0x" for interfaces and abstract contracts
    deployed_bytecode: str
    source_hash: str  # sources_hash() of the contracts directory it was compiled from
    compiler: str  # solc long version, e.g. "0.8.28+commit.7893614a"
    settings: dict[str, Any]  # the settings of compiler.json it was compiled with
    devdoc: dict[str, Any] = field(default_factory=dict)
    userdoc: dict[str, Any] = field(default_factory=dict)
    storage_layout: dict[str, Any] = field(default_factory=dict)
    metadata: str = ""  # solc's metadata JSON, verbatim (what source verification needs)

    @property
    def deployable(self) -> bool:
        """A concrete contract: interfaces, abstract contracts and libraries are not shipped."""
        return self.kind == "contract" and self.bytecode != "0x"

    def to_json(self) -> str:
        """Deterministic: sorted keys, two-space indent, trailing newline."""
        return json.dumps(asdict(self), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: str = "artifact") -> ContractArtifact:
        try:
            return cls(**json.loads(text))
        except (json.JSONDecodeError, TypeError) as exc:
            raise CompilerError(
                f"{origin} is not a Veritag artifact ({exc}); run `veritag compile`"
            ) from None


def sources_hash(contracts_dir: Path = CONTRACTS_DIR) -> str:
    """sha256 over every ``.sol`` file and ``compiler.json`` of ``contracts_dir``, by path."""
    paths = [*contracts_dir.rglob("*.sol"), contracts_dir / SETTINGS_FILE]
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(contracts_dir).as_posix()):
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise CompilerError(f"{path} is missing") from None
        digest.update(path.relative_to(contracts_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def find_solc(version: str | None = None) -> Path:
    """The solc to run for ``version`` (default: the pinned one).

    A native solc of that version if py-solc-x has one installed, else ``scripts/solc.cjs``
    over ``node_modules/solc``, whose version must match.
    """
    pinned = version or CompilerSettings.load().version
    if any(str(v) == pinned for v in solcx.get_installed_solc_versions()):
        return Path(solcx.install.get_executable(pinned))
    if shutil.which("node") is None:
        raise CompilerError(
            f"no native solc {pinned} is installed and `node` is not on PATH; "
            "install Node.js 20 and run `npm ci` to compile with the npm solc package"
        )
    if not (NODE_MODULES / "solc" / "package.json").is_file():
        raise CompilerError(f"{NODE_MODULES / 'solc'} is missing; run `npm ci`")
    found = _solcjs_version()
    if found != pinned:
        raise CompilerError(
            f"node_modules/solc is solc {found} but {SETTINGS_FILE} pins {pinned}; "
            f"pin solc {pinned} in package.json and run `npm ci`"
        )
    return SOLC_WRAPPER


@functools.cache
def _solcjs_version() -> str:
    if not os.access(SOLC_WRAPPER, os.X_OK):
        raise CompilerError(f"{SOLC_WRAPPER} is not executable; run `chmod +x {SOLC_WRAPPER}`")
    try:
        out = subprocess.run(
            [str(SOLC_WRAPPER), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompilerError(f"{SOLC_WRAPPER} --version failed ({exc}); run `npm ci`") from None
    match = re.search(r"Version: (\d+\.\d+\.\d+)", out)
    if match is None:
        raise CompilerError(f"{SOLC_WRAPPER} --version printed no version: {out!r}")
    return match.group(1)


def _strip_comments(text: str) -> str:
    return _COMMENT_OR_STRING.sub(lambda m: " " if m.group().startswith("/") else m.group(), text)


def _imports(text: str) -> list[str]:
    return [m.group("path") for m in _IMPORT.finditer(_strip_comments(text))]


def _resolve(importer: str, path: str) -> str:
    """Source unit name of ``path`` imported from unit ``importer``, as solc resolves it."""
    if path.startswith(("./", "../")):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), path))
    return path


def _project_sources(contracts_dir: Path) -> dict[str, str]:
    prefix = contracts_dir.resolve().name
    return {
        f"{prefix}/{path.relative_to(contracts_dir).as_posix()}": path.read_text(encoding="utf-8")
        for path in sorted(contracts_dir.rglob("*.sol"))
    }


def build_standard_input(
    contracts_dir: Path, node_modules: Path, settings: CompilerSettings
) -> dict[str, Any]:
    """Standard JSON input: project sources plus every imported file from ``node_modules``.

    Project units are named ``contracts/<path>``; imported ones by their import path
    (``@openzeppelin/contracts/...``), as Hardhat names them, so the metadata and thus the
    bytecode are the same whichever tool compiled them. Only project units are selected for
    output.
    """
    project = _project_sources(contracts_dir)
    if not project:
        raise CompilerError(f"no .sol files under {contracts_dir}")
    sources = dict(project)
    missing: list[str] = []
    root = node_modules.resolve()
    pending = list(project)
    while pending:
        importer = pending.pop()
        for imported in _imports(sources[importer]):
            unit = _resolve(importer, imported)
            if unit in sources:
                continue
            file = (root / unit).resolve()
            if not file.is_relative_to(root) or not file.is_file():
                missing.append(f"{importer} imports {imported!r}")
                continue
            sources[unit] = file.read_text(encoding="utf-8")
            pending.append(unit)
    if missing:
        raise CompilerError(
            "imports not found in the contracts directory or in "
            f"{node_modules} (run `npm ci`):\n  " + "\n  ".join(missing)
        )
    return {
        "language": "Solidity",
        "sources": {unit: {"content": sources[unit]} for unit in sorted(sources)},
        "settings": {
            **settings.settings,
            "outputSelection": {unit: {"*": OUTPUTS} for unit in sorted(project)},
        },
    }


def _run_solc(solc: Path, standard_input: dict[str, Any]) -> dict[str, Any]:
    try:
        output: dict[str, Any] = solcx.compile_standard(standard_input, solc_binary=solc)
    except SolcError as exc:
        if exc.error_dict:
            messages = [
                e.get("formattedMessage") or e.get("message", "")
                for e in exc.error_dict
                if isinstance(e, dict) and e.get("severity") == "error"
            ]
            raise CompilerError(
                f"the contracts do not compile ({len(messages)} error(s)):\n" + "\n".join(messages)
            ) from None
        raise CompilerError(f"{solc} failed:\n{exc}") from None
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        raise CompilerError(f"running {solc} failed: {exc}") from None
    return output


def compile_contracts(
    contracts_dir: Path = CONTRACTS_DIR, node_modules: Path = NODE_MODULES
) -> dict[str, ContractArtifact]:
    """Compile every contract, interface and library under ``contracts_dir``, keyed by name.

    Raises :class:`CompilerError` with solc's messages if any is an error; warnings are logged.
    """
    settings = CompilerSettings.load(contracts_dir / SETTINGS_FILE)
    solc = find_solc(settings.version)
    source_hash = sources_hash(contracts_dir)
    standard_input = build_standard_input(contracts_dir, node_modules, settings)
    output = _run_solc(solc, standard_input)
    for problem in output.get("errors", []):
        logger.warning("solc: %s", problem.get("formattedMessage") or problem.get("message"))

    artifacts: dict[str, ContractArtifact] = {}
    for unit in standard_input["settings"]["outputSelection"]:
        kinds = _declarations(standard_input["sources"][unit]["content"])
        for name, data in sorted(output.get("contracts", {}).get(unit, {}).items()):
            if name in artifacts:
                raise CompilerError(
                    f"two contracts are named {name} ({artifacts[name].source} and {unit}); "
                    "artifacts are keyed by name, so rename one"
                )
            bytecode = data["evm"]["bytecode"]["object"]
            if "__$" in bytecode:
                raise CompilerError(
                    f"{name} ({unit}) calls external library functions, which would need linking; "
                    "make those library functions internal"
                )
            metadata = data.get("metadata", "")
            compiler = json.loads(metadata)["compiler"]["version"] if metadata else settings.version
            artifacts[name] = ContractArtifact(
                name=name,
                source=unit,
                kind=kinds.get(name, "contract"),
                abi=data["abi"],
                bytecode="0x" + bytecode,
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
                source_hash=source_hash,
                compiler=compiler,
                settings=settings.settings,
                devdoc=data.get("devdoc", {}),
                userdoc=data.get("userdoc", {}),
                storage_layout=data.get("storageLayout") or {},
                metadata=metadata,
            )
    return artifacts


def write_artifacts(
    artifacts: Mapping[str, ContractArtifact], out_dir: Path = ARTIFACTS_DIR
) -> list[str]:
    """Write ``<Name>.json`` for every concrete contract; drop artifacts no longer built.

    Returns the names written, sorted. Files whose content is unchanged are not rewritten.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = sorted(name for name, artifact in artifacts.items() if artifact.deployable)
    for name in written:
        path = out_dir / f"{name}.json"
        text = artifacts[name].to_json()
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for path in out_dir.glob("*.json"):
        if path.stem not in written:
            path.unlink()
    return written


def _artifact_files(artifacts_dir: Path | None) -> Traversable:
    return files("ledger").joinpath("artifacts") if artifacts_dir is None else artifacts_dir


def load_artifact(name: str, artifacts_dir: Path | None = None) -> ContractArtifact:
    """The compiled contract ``name`` from the packaged ``ledger/artifacts``, or ``artifacts_dir``.

    Reads package data through ``importlib.resources``: installed users need no compiler.
    """
    if not _CONTRACT_NAME.fullmatch(name):
        raise CompilerError(f"{name!r} is not a contract name")
    resource = _artifact_files(artifacts_dir).joinpath(f"{name}.json")
    if not resource.is_file():
        raise CompilerError(
            f"no compiled artifact for {name} in ledger/artifacts; run `veritag compile`"
        )
    return ContractArtifact.from_json(resource.read_text(encoding="utf-8"), origin=str(resource))


def _declarations(text: str) -> dict[str, str]:
    """Kind of every contract, interface and library declared in ``text``, by name."""
    code = _COMMENT_OR_STRING.sub(" ", text)
    return {
        name: f"abstract {kind}" if abstract else kind
        for abstract, kind, name in _DECLARATION.findall(code)
    }


def _declared_deployables(contracts_dir: Path) -> set[str]:
    """Names of the concrete contracts declared under ``contracts_dir``: the expected artifacts."""
    return {
        name
        for text in _project_sources(contracts_dir).values()
        for name, kind in _declarations(text).items()
        if kind == "contract"
    }


def artifacts_are_stale(
    contracts_dir: Path = CONTRACTS_DIR, artifacts_dir: Path | None = None
) -> list[str]:
    """Names of artifacts not built from the current sources, or missing; empty if fresh.

    Cheap: hashes the sources and reads the shipped JSON, compiles nothing.
    """
    current = sources_hash(contracts_dir)
    shipped: dict[str, str] = {}
    folder = _artifact_files(artifacts_dir)
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.endswith(".json"):
                artifact = ContractArtifact.from_json(entry.read_text("utf-8"), origin=str(entry))
                shipped[artifact.name] = artifact.source_hash
    stale = {name for name, source_hash in shipped.items() if source_hash != current}
    stale |= _declared_deployables(contracts_dir) - shipped.keys()
    return sorted(stale)


def compile_and_write(
    contracts_dir: Path | None = None,
    *,
    node_modules: Path | None = None,
    out_dir: Path | None = None,
) -> list[str]:
    """What ``veritag compile`` runs: compile ``contracts/`` and write ``ledger/artifacts``.

    ``contracts_dir`` defaults to the project's ``contracts/``, ``node_modules`` to the one next
    to it, ``out_dir`` to the package's ``ledger/artifacts``. Returns the artifact names written.
    """
    contracts_dir = contracts_dir or CONTRACTS_DIR
    node_modules = node_modules or contracts_dir.resolve().parent / "node_modules"
    artifacts = compile_contracts(contracts_dir, node_modules)
    return write_artifacts(artifacts, out_dir or ARTIFACTS_DIR)
