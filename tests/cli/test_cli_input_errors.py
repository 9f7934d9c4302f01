"""The installed `veritag` script refuses bad input with exit code 1 and one clear message.

Each test runs the real console script in a subprocess, as a user would, against a fresh data
directory and the in-memory chain. A refusal is ``error: <message>`` on stderr naming the input
and the reason, never a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

GTIN = "00614141123452"


def veritag_script() -> Path:
    """The console script of the environment running the tests (else the one on PATH)."""
    beside = Path(sys.executable).parent / "veritag"
    if beside.is_file():
        return beside
    found = shutil.which("veritag")
    if found is None:
        pytest.fail("the `veritag` console script is not installed (pip install -e .)")
    return Path(found)


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Cli:
    """Runs `veritag ARGS…` with a fixed environment and working directory."""

    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str) -> Result:
        done = subprocess.run(
            [str(veritag_script()), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(args, done.returncode, done.stdout, done.stderr)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(tmp_path: Path, data_dir: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAG_")}
    env.update(
        VERITAG_DATA_DIR=str(data_dir),
        VERITAG_PASSPHRASE="test",
        VERITAG_KEYSTORE_ITERATIONS="1000",
        VERITAG_CHAIN="memory",
        COLUMNS="80",  # a narrow terminal: messages must still not be broken across lines
    )
    return Cli(env, tmp_path)


def assert_refused(result: Result, message: str) -> None:
    """Exit code 1, nothing on stdout, and exactly ``error: <message>`` on stderr."""
    assert (result.code, result.stdout, result.stderr) == (1, "", f"error: {message}\n"), result


def test_help_lists_every_command_group(cli: Cli) -> None:
    result = cli("--help")

    assert result.code == 0, result
    listed = set(re.findall(r"^\W*([a-z]+)\s{2,}\S", result.stdout, flags=re.MULTILINE))
    expected = {"compile", "deploy", "chain", "account", "brand", "operator", "item", "bench"}
    assert expected | {"demo"} <= listed, result.stdout


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param(
            "00614141123453/A1",
            "invalid GTIN '00614141123453': check digit is 3, expected 2",
            id="wrong-check-digit",
        ),
        pytest.param(
            f"{GTIN}/{'S' * 21}",
            f"invalid serial '{'S' * 21}': has 21 characters, at most 20 are allowed",
            id="serial-too-long",
        ),
        pytest.param(
            f"{GTIN}/A#1",
            "invalid serial 'A#1': contains '#' at position 2, outside GS1 character set 82",
            id="forbidden-character",
        ),
        pytest.param(
            # Once a crash: the message was read as Rich markup, and '[/b]' closes no tag.
            f"{GTIN}/A[/b]",
            "invalid serial 'A[/b]': contains '[' at position 2, outside GS1 character set 82",
            id="markup-like-serial",
        ),
        pytest.param(
            f"{GTIN}A1",
            f"item '{GTIN}A1' must be GTIN/SERIAL (e.g. 00614141123452/A1)",
            id="no-slash",
        ),
        pytest.param(
            # Registering needs the GTIN and serial, not only their hash.
            "0x" + "ab" * 32,
            "item '0x" + "ab" * 32 + "' must be GTIN/SERIAL (e.g. 00614141123452/A1)",
            id="item-id-instead-of-gtin-and-serial",
        ),
    ],
)
def test_register_refuses_a_bad_item_before_any_account_or_chain_is_used(
    cli: Cli, data_dir: Path, item: str, message: str
) -> None:
    # No account "x" exists: the item is refused before the keystore is read.
    assert_refused(cli("item", "register", item, "--as", "x"), message)
    assert not data_dir.exists()


def test_show_refuses_a_malformed_item_id(cli: Cli) -> None:
    assert_refused(
        cli("item", "show", "0x12"),
        "invalid item id '0x12': must have 64 hex digits after '0x', got 2",
    )


def test_register_csv_lists_every_bad_row_with_its_line_and_registers_nothing(
    cli: Cli, tmp_path: Path, data_dir: Path
) -> None:
    items = tmp_path / "items.csv"
    items.write_text(
        "gtin,serial\n"
        f"{GTIN},A1\n"
        "00614141123453,A2\n"
        f"{GTIN},{'S' * 21}\n"
        f"{GTIN}\n"
        f"{GTIN},A 4\n"
        f"{GTIN},A1\n"
    )

    result = cli("item", "register", "--csv", str(items), "--as", "x")

    assert_refused(
        result,
        f"{items}: 5 problem(s), nothing was registered; fix them and retry:\n"
        "  line 3, gtin: check digit is 3, expected 2\n"
        "  line 4, serial: has 21 characters, at most 20 are allowed\n"
        "  line 5, row: has 1 fields, the header has 2\n"
        "  line 6, serial: contains ' ' at position 2, outside GS1 character set 82\n"
        f"  line 7, serial: GTIN {GTIN} serial 'A1' repeats line 2",
    )
    assert not data_dir.exists()


def test_register_refuses_to_overwrite_an_existing_claim_codes_file(
    cli: Cli, tmp_path: Path
) -> None:
    codes = tmp_path / "codes.csv"
    codes.write_text("keep me\n")

    result = cli("item", "register", f"{GTIN}/A1", "--claim-codes", str(codes), "--as", "x")

    assert_refused(result, f"{codes} exists; refusing to overwrite hidden claim codes")
    assert codes.read_text() == "keep me\n"


def test_show_of_an_unregistered_item_exits_4_and_says_so_on_stderr(cli: Cli) -> None:
    result = cli("item", "show", f"{GTIN}/NEVER", "--json")

    assert result.code == 4, result
    assert result.stdout == ""  # stdout stays clean for whoever parses the JSON
    assert re.fullmatch(r"item 0x[0-9a-f]{64} is not registered on chain \d+\n", result.stderr)


def test_an_unknown_signing_account_is_named_with_the_keystore_it_was_looked_for_in(
    cli: Cli, data_dir: Path
) -> None:
    result = cli("item", "register", f"{GTIN}/A1", "--as", "nobody")

    assert_refused(result, f"no account 'nobody' in {data_dir / 'keys'} (known accounts: none)")


@pytest.mark.parametrize(
    ("to", "message"),
    [
        pytest.param(
            "0x123", "'0x123' is not an Ethereum address (0x and 40 hex digits)", id="short-hex"
        ),
        pytest.param(
            "0x" + "g" * 40,
            f"'0x{'g' * 40}' is not an Ethereum address (0x and 40 hex digits)",
            id="not-hex",
        ),
    ],
)
def test_ship_refuses_a_consignee_that_is_not_an_address(cli: Cli, to: str, message: str) -> None:
    assert_refused(cli("item", "ship", f"{GTIN}/A1", "--to", to, "--as", "nobody"), message)


def test_ship_refuses_a_consignee_name_that_is_no_account(cli: Cli, data_dir: Path) -> None:
    result = cli("item", "ship", f"{GTIN}/A1", "--to", "ghost", "--as", "nobody")

    assert_refused(
        result,
        "'ghost' is neither an address nor a known account: "
        f"no account 'ghost' in {data_dir / 'keys'} (known accounts: none)",
    )
