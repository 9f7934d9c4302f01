"""ledger.accounts: fresh keys and the passphrase-encrypted keystore."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from ledger.accounts import KEYS_DIRNAME, Keystore, generate_account
from ledger.errors import AccountError

# A well-known test key (Hardhat/anvil account #1): never holds anything of value.
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    # Cheap key derivation: the secure default (scrypt n=2**18) takes about a second per file.
    return Keystore.in_datadir(tmp_path, kdf="pbkdf2", iterations=2)


def assert_no_key(*objects: object) -> None:
    for obj in objects:
        for text in (repr(obj), str(obj)):
            assert KEY[2:].lower() not in text.lower()


def test_generate_account_makes_distinct_usable_accounts() -> None:
    first, second = generate_account(), generate_account()

    assert first.address != second.address
    assert Account.from_key(first.key).address == first.address


def test_in_datadir_uses_the_keys_folder(tmp_path: Path) -> None:
    assert Keystore.in_datadir(tmp_path).directory == tmp_path / KEYS_DIRNAME


def test_create_saves_an_owner_only_keyfile_that_loads_back(keystore: Keystore) -> None:
    address = keystore.create("brand-1", "correct horse")

    path = keystore.directory / "brand-1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["crypto"]["kdf"] == "pbkdf2"
    assert keystore.load("brand-1", "correct horse").address == address


def test_default_kdf_is_eth_accounts_scrypt(tmp_path: Path) -> None:
    store = Keystore(tmp_path, iterations=2)  # scrypt's cost kept low for the test

    store.create("a", "pw")

    assert json.loads((tmp_path / "a.json").read_text())["crypto"]["kdf"] == "scrypt"


def test_import_key_keeps_the_address_and_loads_the_same_key(keystore: Keystore) -> None:
    address = keystore.import_key("operator", KEY, "pw")
    account = keystore.load("operator", "pw")

    assert address == ADDRESS
    assert account.address == ADDRESS
    assert "0x" + account.key.hex() == KEY


def test_import_key_accepts_raw_bytes(keystore: Keystore) -> None:
    assert keystore.import_key("raw", bytes.fromhex(KEY[2:]), "pw") == ADDRESS


def test_create_refuses_to_overwrite_an_existing_name(keystore: Keystore) -> None:
    keystore.import_key("brand", KEY, "pw")
    before = (keystore.directory / "brand.json").read_bytes()

    with pytest.raises(AccountError, match="account 'brand' already exists"):
        keystore.create("brand", "other")

    assert (keystore.directory / "brand.json").read_bytes() == before


@pytest.mark.parametrize("name", ["", "Brand", "a b", "../evil", "x" * 41, "é"])
def test_invalid_names_are_refused(keystore: Keystore, name: str) -> None:
    with pytest.raises(AccountError, match="invalid account name"):
        keystore.create(name, "pw")
    assert not keystore.directory.exists() or not any(keystore.directory.iterdir())


def test_load_with_a_wrong_passphrase_names_the_account(keystore: Keystore) -> None:
    keystore.import_key("x", KEY, "right")

    with pytest.raises(AccountError, match=r"^wrong passphrase for account 'x'$") as caught:
        keystore.load("x", "wrong")

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_load_of_a_missing_account_lists_the_known_ones(keystore: Keystore) -> None:
    keystore.create("beta", "pw")
    keystore.create("alpha", "pw")

    with pytest.raises(AccountError, match=r"no account 'gamma' .*known accounts: alpha, beta"):
        keystore.load("gamma", "pw")


def test_load_in_an_empty_keystore_says_there_are_none(keystore: Keystore) -> None:
    with pytest.raises(AccountError, match=r"known accounts: none"):
        keystore.load("anything", "pw")


def test_list_and_address_of_read_addresses_without_the_passphrase(keystore: Keystore) -> None:
    created = keystore.create("b", "pw1")
    keystore.import_key("a", KEY, "pw2")
    (keystore.directory / "NotAnAccount.json").write_text("{}")

    assert keystore.list() == {"a": ADDRESS, "b": created}
    assert list(keystore.list()) == ["a", "b"]
    assert keystore.address_of("a") == ADDRESS


def test_list_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert Keystore(tmp_path / "nowhere").list() == {}


def test_a_damaged_keyfile_is_reported_with_its_path(keystore: Keystore) -> None:
    keystore.directory.mkdir(parents=True)
    (keystore.directory / "bad.json").write_text("{not json")

    with pytest.raises(AccountError, match=r"cannot read keystore file .*bad\.json"):
        keystore.address_of("bad")


def test_an_invalid_private_key_is_refused_without_echoing_it(keystore: Keystore) -> None:
    secret = "ab" * 31  # 31 bytes: too short

    with pytest.raises(AccountError, match="not a valid private key") as caught:
        keystore.import_key("x", secret, "pw")

    assert secret not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None  # eth-account's error quoting the key is dropped


def test_no_repr_str_or_error_reveals_the_private_key(
    keystore: Keystore, caplog: pytest.LogCaptureFixture
) -> None:
    address = keystore.import_key("k", KEY, "pw")
    account = keystore.load("k", "pw")
    errors: list[AccountError] = []
    for attempt in (
        lambda: keystore.load("k", "nope"),
        lambda: keystore.import_key("k", KEY, "pw"),
        lambda: keystore.load("missing", "pw"),
    ):
        with pytest.raises(AccountError) as caught:
            attempt()
        errors.append(caught.value)

    assert_no_key(address, account, keystore, keystore.list(), *errors)
    assert KEY[2:] not in caplog.text
    assert KEY[2:] not in (keystore.directory / "k.json").read_text()
