"""The compile pipeline: pinned solc, imports from node_modules, artifacts and their staleness."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import solcx

from ledger import compiler
from ledger.compiler import (
    CompilerSettings,
    ContractArtifact,
    artifacts_are_stale,
    build_standard_input,
    compile_and_write,
    compile_contracts,
    find_solc,
    load_artifact,
    sources_hash,
    write_artifacts,
)
from ledger.errors import CompilerError

PINNED = CompilerSettings.load()

needs_solcjs = pytest.mark.skipif(
    shutil.which("node") is None
    or not (compiler.NODE_MODULES / "solc" / "package.json").is_file()
    or not (compiler.NODE_MODULES / "@openzeppelin" / "contracts").is_dir(),
    reason="needs node and node_modules/solc + @openzeppelin/contracts (run `npm ci`)",
)

HEADER = "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.28;\n"

GREETER_SOURCES = {
    "IGreeter.sol": HEADER
    + "interface IGreeter {\n    function greet() external view returns (string memory);\n}\n",
    "Greeter.sol": HEADER
    + 'import {IGreeter} from "./IGreeter.sol";\n'
    + "abstract contract Polite {\n    function please() internal pure returns (string memory) {\n"
    + '        return "please";\n    }\n}\n'
    + "library Words {\n    function hello() internal pure returns (string memory) {\n"
    + '        return "hello";\n    }\n}\n'
    + "/// @notice Says hello.\ncontract Greeter is IGreeter, Polite {\n"
    + "    function greet() external pure returns (string memory) {\n"
    + "        return Words.hello();\n    }\n}\n",
    "bench/Token.sol": HEADER
    + 'import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";\n'
    + 'contract Token is ERC721 {\n    constructor() ERC721("Token", "TKN") {}\n\n'
    + "    function mint(address to, uint256 id) external {\n        _mint(to, id);\n    }\n}\n",
}


def make_project(root: Path, sources: dict[str, str]) -> Path:
    """A contracts directory under ``root`` with the project's compiler.json and ``sources``."""
    contracts = root / "contracts"
    contracts.mkdir(parents=True)
    shutil.copy(compiler.CONTRACTS_DIR / "compiler.json", contracts / "compiler.json")
    for name, text in sources.items():
        (contracts / name).parent.mkdir(parents=True, exist_ok=True)
        (contracts / name).write_text(text, encoding="utf-8")
    return contracts


def fake_artifact(
    name: str, source_hash: str, bytecode: str = "0x6001", kind: str = "contract"
) -> ContractArtifact:
    return ContractArtifact(
        name=name,
        source=f"contracts/{name}.sol",
        kind=kind,
        abi=[
            {
                "type": "function",
                "name": "f",
                "inputs": [],
                "outputs": [],
                "stateMutability": "view",
            }
        ],
        bytecode=bytecode,
        deployed_bytecode=bytecode,
        source_hash=source_hash,
        compiler="0.8.28+commit.7893614a",
        settings=PINNED.settings,
    )


@pytest.fixture(scope="module")
def greeter_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("greeter"), GREETER_SOURCES)


@pytest.fixture(scope="module")
def greeter_artifacts(greeter_project: Path) -> dict[str, ContractArtifact]:
    if shutil.which("node") is None or not (compiler.NODE_MODULES / "solc").is_dir():
        pytest.skip("needs node and node_modules/solc (run `npm ci`)")
    return compile_contracts(greeter_project, compiler.NODE_MODULES)


# --- settings and inputs (no compiler needed) ---------------------------------------------


def test_settings_come_from_contracts_compiler_json() -> None:
    raw = json.loads((compiler.CONTRACTS_DIR / "compiler.json").read_text())

    assert PINNED.version == raw["version"]
    assert PINNED.settings == raw["settings"]
    assert PINNED.evm_version == raw["settings"]["evmVersion"]
    assert PINNED.via_ir is raw["settings"]["viaIR"]


def test_settings_reject_a_compiler_json_without_a_release_version(tmp_path: Path) -> None:
    path = tmp_path / "compiler.json"
    path.write_text(json.dumps({"version": "latest", "settings": {}}))

    with pytest.raises(CompilerError, match=r'"version" must be a solc release'):
        CompilerSettings.load(path)


def test_standard_input_feeds_imports_transitively_by_import_path(tmp_path: Path) -> None:
    contracts = make_project(
        tmp_path,
        {
            "A.sol": '// import "@lib/pkg/Gone.sol";\n/* import "@lib/pkg/Gone.sol"; */\n'
            'import {B} from "@lib/pkg/sub/B.sol";\nimport * as Q from "./q/Q.sol";\n',
            "q/Q.sol": 'import "../A.sol";\n',
        },
    )
    node_modules = tmp_path / "node_modules"
    (node_modules / "@lib/pkg/sub").mkdir(parents=True)
    (node_modules / "@lib/pkg/sub/B.sol").write_text(
        'import {C} from "./C.sol";\nimport "../D.sol";\n'
    )
    (node_modules / "@lib/pkg/sub/C.sol").write_text("contract C {}\n")
    (node_modules / "@lib/pkg/D.sol").write_text("contract D {}\n")

    standard = build_standard_input(contracts, node_modules, PINNED)

    assert sorted(standard["sources"]) == [
        "@lib/pkg/D.sol",
        "@lib/pkg/sub/B.sol",
        "@lib/pkg/sub/C.sol",
        "contracts/A.sol",
        "contracts/q/Q.sol",
    ]
    assert standard["sources"]["@lib/pkg/D.sol"] == {"content": "contract D {}\n"}
    assert sorted(standard["settings"]["outputSelection"]) == [
        "contracts/A.sol",
        "contracts/q/Q.sol",
    ]
    assert standard["settings"]["optimizer"] == PINNED.settings["optimizer"]


def test_missing_import_raises_compiler_error_naming_the_importer(tmp_path: Path) -> None:
    contracts = make_project(tmp_path, {"A.sol": 'import "@openzeppelin/contracts/Nope.sol";\n'})

    with pytest.raises(CompilerError) as caught:
        build_standard_input(contracts, tmp_path / "node_modules", PINNED)

    assert "contracts/A.sol imports '@openzeppelin/contracts/Nope.sol'" in str(caught.value)
    assert "npm ci" in str(caught.value)


def test_import_that_climbs_out_of_node_modules_is_refused(tmp_path: Path) -> None:
    contracts = make_project(tmp_path / "p", {"A.sol": 'import "../../secret.sol";\n'})
    (tmp_path / "p" / "secret.sol").write_text("contract S {}\n")

    with pytest.raises(CompilerError, match=r"contracts/A.sol imports '../../secret.sol'"):
        build_standard_input(contracts, tmp_path / "p" / "node_modules", PINNED)


# --- the solc-js wrapper -------------------------------------------------------------------


@needs_solcjs
def test_wrapper_answers_version_with_the_pinned_version() -> None:
    out = subprocess.run(
        [str(compiler.SOLC_WRAPPER), "--version"], capture_output=True, text=True, check=True
    ).stdout

    assert f"Version: {PINNED.version}+commit." in out
    assert str(solcx.wrapper.get_solc_version(compiler.SOLC_WRAPPER)) == PINNED.version


@needs_solcjs
def test_wrapper_rejects_unknown_options_in_solcs_words() -> None:
    done = subprocess.run(
        [str(compiler.SOLC_WRAPPER), "--optimize"], capture_output=True, text=True, check=False
    )

    assert done.returncode == 1
    assert done.stderr == "unrecognised option '--optimize'\n"


@needs_solcjs
def test_find_solc_uses_the_wrapper_when_no_native_solc_is_installed() -> None:
    if any(str(v) == PINNED.version for v in solcx.get_installed_solc_versions()):
        pytest.skip("a native solc of the pinned version is installed")

    assert find_solc() == compiler.SOLC_WRAPPER


@needs_solcjs
def test_find_solc_refuses_a_version_node_modules_does_not_have() -> None:
    with pytest.raises(CompilerError, match=r"pins 0\.8\.1; .*npm ci"):
        find_solc("0.8.1")


# --- compiling ---------------------------------------------------------------------------


@needs_solcjs
def test_compiling_a_contract_that_imports_openzeppelin_gives_abi_and_bytecode(
    greeter_artifacts: dict[str, ContractArtifact],
) -> None:
    token = greeter_artifacts["Token"]

    assert sorted(greeter_artifacts) == ["Greeter", "IGreeter", "Polite", "Token", "Words"]
    assert token.source == "contracts/bench/Token.sol"
    assert {"balanceOf", "mint", "safeTransferFrom"} <= {e.get("name") for e in token.abi}
    assert re.fullmatch(r"0x60[0-9a-f]{2000,}", token.bytecode)
    assert re.fullmatch(r"0x[0-9a-f]{2000,}", token.deployed_bytecode)
    assert token.compiler.startswith(f"{PINNED.version}+commit.")
    assert token.settings == PINNED.settings
    assert json.loads(token.metadata)["settings"]["optimizer"] == PINNED.settings["optimizer"]


@needs_solcjs
def test_artifacts_record_what_kind_of_declaration_each_is(
    greeter_artifacts: dict[str, ContractArtifact],
) -> None:
    kinds = {name: (a.kind, a.deployable) for name, a in greeter_artifacts.items()}

    assert kinds == {
        "Greeter": ("contract", True),
        "IGreeter": ("interface", False),
        "Polite": ("abstract contract", False),
        "Token": ("contract", True),
        "Words": ("library", False),
    }
    assert greeter_artifacts["IGreeter"].bytecode == "0x"
    assert greeter_artifacts["Polite"].bytecode == "0x"
    assert greeter_artifacts["Greeter"].userdoc["notice"] == "Says hello."


@needs_solcjs
def test_syntax_error_raises_compiler_error_with_solcs_message_and_file(tmp_path: Path) -> None:
    contracts = make_project(
        tmp_path, {"Broken.sol": HEADER + "contract Broken {\n    uint x\n}\n"}
    )

    with pytest.raises(CompilerError) as caught:
        compile_contracts(contracts, compiler.NODE_MODULES)

    message = str(caught.value)
    assert "ParserError: Expected ';' but got '}'" in message
    assert "contracts/Broken.sol:5:1" in message


@needs_solcjs
def test_warnings_are_logged_and_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    contracts = make_project(
        tmp_path,
        {
            "Warn.sol": HEADER
            + "contract Warn {\n    function f() external pure {\n"
            + "        uint256 unused;\n    }\n}\n"
        },
    )

    with caplog.at_level(logging.WARNING, logger="ledger.compiler"):
        artifacts = compile_contracts(contracts, compiler.NODE_MODULES)

    assert artifacts["Warn"].deployable
    assert any("Unused local variable" in r.getMessage() for r in caplog.records)


@needs_solcjs
def test_compile_and_write_returns_the_written_artifact_names(tmp_path: Path) -> None:
    contracts = make_project(tmp_path, {"One.sol": HEADER + "interface I {}\ncontract One {}\n"})

    written = compile_and_write(
        contracts, node_modules=compiler.NODE_MODULES, out_dir=tmp_path / "out"
    )

    assert written == ["One"]
    assert load_artifact("One", tmp_path / "out").source_hash == sources_hash(contracts)


# --- artifacts ---------------------------------------------------------------------------


def test_write_then_load_artifact_round_trips(tmp_path: Path) -> None:
    artifact = fake_artifact("Registry", source_hash="ab" * 32)
    interface = fake_artifact("IRegistry", "ab" * 32, bytecode="0x", kind="interface")
    library = fake_artifact("Bits", "ab" * 32, bytecode="0x5f80fd", kind="library")

    written = write_artifacts(
        {"Registry": artifact, "IRegistry": interface, "Bits": library}, tmp_path
    )

    assert written == ["Registry"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Registry.json"]
    assert load_artifact("Registry", tmp_path) == artifact


def test_artifact_files_are_deterministic(tmp_path: Path) -> None:
    artifact = fake_artifact("Registry", source_hash="ab" * 32)
    write_artifacts({"Registry": artifact}, tmp_path)
    first = (tmp_path / "Registry.json").read_bytes()

    write_artifacts({"Registry": artifact}, tmp_path)

    assert (tmp_path / "Registry.json").read_bytes() == first
    assert first.endswith(b"}\n")
    assert first.decode() == json.dumps(json.loads(first), sort_keys=True, indent=2) + "\n"


def test_write_artifacts_drops_artifacts_of_contracts_no_longer_built(tmp_path: Path) -> None:
    write_artifacts({"Old": fake_artifact("Old", "00" * 32)}, tmp_path)

    write_artifacts({"New": fake_artifact("New", "00" * 32)}, tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["New.json"]


@needs_solcjs
def test_compiled_artifacts_round_trip(
    greeter_artifacts: dict[str, ContractArtifact], tmp_path: Path
) -> None:
    assert write_artifacts(greeter_artifacts, tmp_path) == ["Greeter", "Token"]
    assert load_artifact("Token", tmp_path) == greeter_artifacts["Token"]


def test_load_artifact_that_is_missing_says_to_run_veritag_compile(tmp_path: Path) -> None:
    with pytest.raises(
        CompilerError, match=r"no compiled artifact for Nope .*run `veritag compile`"
    ):
        load_artifact("Nope", tmp_path)


def test_load_artifact_refuses_a_path_as_name(tmp_path: Path) -> None:
    with pytest.raises(CompilerError, match="is not a contract name"):
        load_artifact("../errors", tmp_path)


# --- staleness ---------------------------------------------------------------------------


def test_sources_hash_changes_when_a_source_or_compiler_json_changes(tmp_path: Path) -> None:
    contracts = make_project(
        tmp_path, {"A.sol": "contract A {}\n", "bench/B.sol": "contract B {}\n"}
    )
    before = sources_hash(contracts)

    (contracts / "bench" / "B.sol").write_text("contract B { }\n")
    after_source = sources_hash(contracts)
    (contracts / "compiler.json").write_text('{"version": "0.8.28", "settings": {}}\n')
    after_settings = sources_hash(contracts)

    assert len({before, after_source, after_settings}) == 3
    assert sources_hash(contracts) == after_settings


def test_sources_hash_ignores_files_that_are_not_solidity(tmp_path: Path) -> None:
    contracts = make_project(tmp_path, {"A.sol": "contract A {}\n"})
    before = sources_hash(contracts)

    (contracts / "README.md").write_text("notes\n")

    assert sources_hash(contracts) == before


def test_artifacts_are_stale_after_a_source_edit(tmp_path: Path) -> None:
    contracts = make_project(
        tmp_path, {"A.sol": "interface IA {}\nabstract contract Base {}\ncontract A is Base {}\n"}
    )
    out = tmp_path / "artifacts"
    write_artifacts({"A": fake_artifact("A", sources_hash(contracts))}, out)
    fresh = artifacts_are_stale(contracts, out)

    (contracts / "A.sol").write_text("contract A { uint256 x; }\n")

    assert fresh == []
    assert artifacts_are_stale(contracts, out) == ["A"]


def test_artifacts_are_stale_when_a_concrete_contract_has_no_artifact(tmp_path: Path) -> None:
    contracts = make_project(
        tmp_path,
        {
            "A.sol": "contract A {}\n// contract Commented {}\nlibrary L {}\n"
            'string constant S = "contract Q";\ncontract B {}\n'
        },
    )
    out = tmp_path / "artifacts"
    write_artifacts({"A": fake_artifact("A", sources_hash(contracts))}, out)

    assert artifacts_are_stale(contracts, out) == ["B"]


def test_shipped_artifacts_match_contract_sources() -> None:
    stale = artifacts_are_stale()

    assert stale == [], (
        f"ledger/artifacts is stale for {stale} relative to contracts/; run `veritag compile` "
        "and commit ledger/artifacts"
    )


# --- hardhat -----------------------------------------------------------------------------


@pytest.mark.slow
@needs_solcjs
def test_hardhat_compiles_with_the_pinned_compiler_and_matches_our_bytecode(
    greeter_project: Path, greeter_artifacts: dict[str, ContractArtifact], tmp_path: Path
) -> None:
    shutil.copytree(greeter_project, tmp_path / "contracts")
    shutil.copy(compiler.PROJECT_ROOT / "hardhat.config.js", tmp_path / "hardhat.config.js")
    (tmp_path / "node_modules").symlink_to(compiler.NODE_MODULES)
    env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}
    env.pop("VERITAG_TESTNET_RPC_URL", None)

    subprocess.run(
        [str(compiler.NODE_MODULES / ".bin" / "hardhat"), "compile", "--force", "--quiet"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )

    (build_info,) = (tmp_path / "artifacts" / "build-info").glob("*.json")
    build = json.loads(build_info.read_text())
    settings = {k: v for k, v in build["input"]["settings"].items() if k != "outputSelection"}
    assert build["solcVersion"] == PINNED.version
    assert build["solcLongVersion"] == greeter_artifacts["Token"].compiler
    assert settings == PINNED.settings
    hardhat_token = json.loads(
        (tmp_path / "artifacts" / "contracts" / "bench" / "Token.sol" / "Token.json").read_text()
    )
    assert hardhat_token["bytecode"] == greeter_artifacts["Token"].bytecode
    assert hardhat_token["deployedBytecode"] == greeter_artifacts["Token"].deployed_bytecode
