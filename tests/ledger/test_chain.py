"""ledger.chain: eth-tester in process and anvil behind JSON-RPC, driven the same way."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from ledger.anvil import AnvilNode, find_anvil
from ledger.chain import ANVIL_CHAIN_ID, Chain, connect_memory, connect_rpc
from ledger.errors import ChainError

ETHER = 10**18
# anvil's account #0 from the "test test … junk" mnemonic, known to every Ethereum developer.
ANVIL_FIRST_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def anvil_node(datadir: Path, **kwargs: Any) -> AnvilNode:
    try:
        anvil = find_anvil()
    except ChainError as exc:
        pytest.skip(f"anvil binary missing: {exc}")
    return AnvilNode(datadir, port=free_port(), anvil_path=anvil, **kwargs)


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilNode]:
    with anvil_node(tmp_path) as node:
        yield node


@pytest.fixture(params=["memory", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    if request.param == "memory":
        yield connect_memory()
        return
    with anvil_node(tmp_path) as node:
        yield connect_rpc(node.url, expected_chain_id=ANVIL_CHAIN_ID)


def send_eip1559(
    chain: Chain, sender: LocalAccount, to: str, wei: int, *, gas: int = 21_000
) -> TxReceipt:
    """Exactly the fields both backends need for a signed type-2 transaction."""
    w3 = chain.w3
    base_fee = w3.eth.get_block("pending")["baseFeePerGas"]
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain.chain_id,
        "nonce": w3.eth.get_transaction_count(sender.address),
        "to": to,
        "value": wei,
        "gas": gas,
        "maxFeePerGas": 2 * base_fee,
        "maxPriorityFeePerGas": 0,
    }
    tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)


def latest_timestamp(chain: Chain) -> int:
    return chain.w3.eth.get_block("latest")["timestamp"]


def test_memory_chain_has_ten_funded_dev_accounts_with_their_keys() -> None:
    chain = connect_memory()

    assert chain.kind == "memory"
    assert [a.address for a in chain.dev_accounts] == list(chain.w3.eth.accounts)
    assert len(chain.dev_accounts) == 10
    for account in chain.dev_accounts:
        assert Account.from_key(account.key).address == account.address
        assert chain.w3.eth.get_balance(account.address) == 1_000_000 * ETHER


def test_block_gas_limit_fits_a_25m_gas_transaction(chain: Chain) -> None:
    sender, receiver = chain.dev_accounts[:2]

    receipt = send_eip1559(chain, sender, receiver.address, 1, gas=25_000_000)

    assert chain.w3.eth.get_block("latest")["gasLimit"] == 30_000_000
    assert receipt["status"] == 1


def test_memory_chain_mines_each_transaction_as_it_arrives() -> None:
    chain = connect_memory()
    sender, receiver = chain.dev_accounts[:2]
    before = chain.w3.eth.block_number

    receipt = send_eip1559(chain, sender, receiver.address, 5)

    assert receipt["blockNumber"] == before + 1 == chain.w3.eth.block_number


def test_memory_chains_are_independent() -> None:
    first, second = connect_memory(), connect_memory()
    send_eip1559(first, first.dev_accounts[0], first.dev_accounts[1].address, 7)

    assert first.w3.eth.block_number == 1
    assert second.w3.eth.block_number == 0


def test_chain_repr_shows_no_private_key() -> None:
    chain = connect_memory(accounts=2)

    for account in chain.dev_accounts:
        assert account.key.hex() not in repr(chain)
    assert repr(chain) == (
        f"Chain(kind='memory', url='memory', chain_id={chain.chain_id}, dev_accounts=2)"
    )


def test_signed_eip1559_transfer_from_a_dev_account_is_mined(chain: Chain) -> None:
    sender, receiver = chain.dev_accounts[:2]
    balance = chain.w3.eth.get_balance(receiver.address)

    receipt = send_eip1559(chain, sender, receiver.address, 123)

    assert receipt["status"] == 1
    assert chain.w3.eth.get_balance(receiver.address) == balance + 123


def test_revert_restores_a_balance_changed_after_the_snapshot(chain: Chain) -> None:
    sender, receiver = chain.dev_accounts[:2]
    balance = chain.w3.eth.get_balance(receiver.address)
    block = chain.w3.eth.block_number
    snapshot = chain.snapshot()
    send_eip1559(chain, sender, receiver.address, ETHER)
    assert chain.w3.eth.get_balance(receiver.address) == balance + ETHER

    chain.revert(snapshot)

    assert chain.w3.eth.get_balance(receiver.address) == balance
    assert chain.w3.eth.get_transaction_count(sender.address) == 0
    assert chain.w3.eth.block_number == block


def test_revert_accepts_the_snapshot_id_as_an_int(chain: Chain) -> None:
    snapshot = chain.snapshot()
    chain.mine(2)

    chain.revert(int(snapshot, 16))

    assert chain.w3.eth.block_number == 0


def test_revert_to_an_unknown_snapshot_raises_chain_error(chain: Chain) -> None:
    with pytest.raises(ChainError, match=r"no snapshot '0x99'"):
        chain.revert("0x99")


def test_mine_adds_blocks(chain: Chain) -> None:
    before = chain.w3.eth.block_number

    chain.mine(3)

    assert chain.w3.eth.block_number == before + 3


def test_increase_time_mines_a_block_that_many_seconds_later(chain: Chain) -> None:
    before = latest_timestamp(chain)

    reported = chain.increase_time(3600)

    assert reported == latest_timestamp(chain) == before + 3600
    receipt = send_eip1559(chain, chain.dev_accounts[0], chain.dev_accounts[1].address, 1)
    assert chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] >= before + 3600


def test_set_next_timestamp_dates_the_next_transactions_block(chain: Chain) -> None:
    target = latest_timestamp(chain) + 1000

    chain.set_next_timestamp(target)
    receipt = send_eip1559(chain, chain.dev_accounts[0], chain.dev_accounts[1].address, 1)

    assert chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == target


def test_memory_set_next_timestamp_refuses_to_go_back_in_time() -> None:
    chain = connect_memory()

    with pytest.raises(ChainError, match="cannot set the next block's timestamp to 1000"):
        chain.set_next_timestamp(1000)


@pytest.mark.anvil
def test_anvil_set_next_timestamp_in_the_past_raises_chain_error(anvil: AnvilNode) -> None:
    chain = connect_rpc(anvil.url)
    chain.mine()

    with pytest.raises(
        ChainError,
        match=r"evm_setNextBlockTimestamp failed on the node at .*: Timestamp error: 1000 is lower",
    ):
        chain.set_next_timestamp(1000)


def test_fund_adds_wei_to_a_fresh_address(chain: Chain) -> None:
    fresh = Account.create().address
    chain.fund(fresh, 3 * ETHER)
    chain.fund(fresh, 2)

    assert chain.w3.eth.get_balance(fresh) == 3 * ETHER + 2


def test_fund_without_dev_accounts_raises_chain_error() -> None:
    chain = Chain(connect_memory().w3, "rpc", dev_accounts=[])

    with pytest.raises(ChainError, match="no development account to pay from"):
        chain.fund(ANVIL_FIRST_ADDRESS, 1)


def test_connect_rpc_to_a_closed_port_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ChainError) as caught:
        connect_rpc(url, timeout=2)

    assert f"cannot reach a JSON-RPC node at {url}" in str(caught.value)
    assert "veritag chain start" in str(caught.value)


@pytest.mark.anvil
def test_connect_rpc_to_anvil_finds_its_dev_accounts(anvil: AnvilNode) -> None:
    chain = connect_rpc(anvil.url)

    assert (chain.kind, chain.chain_id, chain.url) == ("local", ANVIL_CHAIN_ID, anvil.url)
    assert len(chain.dev_accounts) == 10
    assert chain.dev_accounts[0].address == ANVIL_FIRST_ADDRESS
    assert [a.address for a in chain.dev_accounts] == list(chain.w3.eth.accounts)


@pytest.mark.anvil
def test_connect_rpc_with_another_chain_id_names_both_ids(anvil: AnvilNode) -> None:
    expected = f"the node at {anvil.url} is on chain id 31337, but chain id 4242 was expected"
    with pytest.raises(ChainError, match=re.escape(expected)):
        connect_rpc(anvil.url, expected_chain_id=4242)


@pytest.mark.anvil
def test_connect_rpc_offers_no_dev_accounts_off_anvils_chain_id(tmp_path: Path) -> None:
    with anvil_node(tmp_path, chain_id=4242) as node:
        chain = connect_rpc(node.url, expected_chain_id=4242)

        assert chain.kind == "local"
        assert chain.dev_accounts == []


@pytest.mark.anvil
def test_anvil_fund_sets_the_balance_without_a_transaction(anvil: AnvilNode) -> None:
    chain = connect_rpc(anvil.url)
    fresh = Account.create().address

    chain.fund(fresh, 5 * ETHER)

    assert chain.w3.eth.get_balance(fresh) == 5 * ETHER
    assert chain.w3.eth.block_number == 0


@pytest.mark.anvil
def test_anvil_revert_forgets_the_snapshot(anvil: AnvilNode) -> None:
    chain = connect_rpc(anvil.url)
    snapshot = chain.snapshot()
    chain.revert(snapshot)

    with pytest.raises(ChainError, match="a snapshot can be reverted to once"):
        chain.revert(snapshot)
