"""`veritag bench gas`: gas of each registry operation beside an OpenZeppelin ERC-721.

Every figure is the total gas of the transaction (``gasUsed`` of its receipt), measured on a
fresh in-memory chain in one run, so the registry and the baseline see the same EVM (py-evm,
the fork eth-tester runs). Per-item figures divide a 100-item transaction by 100.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.chain import Chain, connect_memory
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.compiler import load_artifact
from ledger.contract_errors import ErrorDecoder
from ledger.identifiers import ItemId, check_digit, container_id, item_id
from ledger.registry import Registry
from ledger.relay import Relayer, transfer_data
from ledger.transactions import Transactor

__all__ = [
    "GAS_TARGETS",
    "AggregationGasReport",
    "GasReport",
    "RelayGasReport",
    "measure_aggregation_gas",
    "measure_gas",
    "measure_relay_gas",
]

BATCH = 100
_GTIN = "00614141123452"
_DOC = Web3.keccak(text="product data document")

GAS_TARGETS = {
    "register_single": 52_000,
    "register_batch100_per_item": 25_000,
    "register_batch100_claim_per_item": 50_000,
    "transfer_single": 33_000,
    "transfer_batch100_per_item": 9_000,
    "ship_receive_single": 80_000,
    "claim": 45_000,
}
"""The targets of issue 2 (total transaction gas)."""


@dataclass(frozen=True)
class GasReport:
    register_single: int
    register_batch100_per_item: int
    register_batch100_claim_per_item: int
    transfer_single: int
    transfer_batch100_per_item: int
    ship_receive_single: int
    claim: int
    baseline_erc721_mint_single: int
    baseline_erc721_mint_batch100_per_item: int
    baseline_erc721_transfer_single: int
    evm: str

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)

    def baseline_for(self, key: str) -> int | None:
        """The ERC-721 figure an operation compares with, if it has one."""
        return {
            "register_single": self.baseline_erc721_mint_single,
            "register_batch100_per_item": self.baseline_erc721_mint_batch100_per_item,
            "register_batch100_claim_per_item": self.baseline_erc721_mint_batch100_per_item,
            "transfer_single": self.baseline_erc721_transfer_single,
        }.get(key)


def measure_gas(chain: Chain | None = None) -> GasReport:
    """Run every measured operation once on a fresh chain and return the gas figures."""
    chain = chain or connect_memory()
    admin, brand_admin, operator, distributor, retailer, consumer, relayer = chain.dev_accounts[:7]
    registry = Registry.deploy(chain.w3, admin)
    brand_id = registry.admit_brand(admin, brand_admin.address, "Bench", ["0614141"])
    registry.add_operator(brand_admin, brand_id, operator.address)

    single = _items("single", 1)[0]
    batch = _items("batch", BATCH)
    claim_batch = _items("claim", BATCH)
    codes = [generate_claim_code() for _ in claim_batch]
    keys = [claim_key(i, c).address for i, c in zip(claim_batch, codes, strict=True)]

    register_single = registry.register(operator, single, _DOC).gas_used
    register_batch = registry.register_batch(operator, batch, _DOC).gas_used
    register_claims = registry.register_batch(operator, claim_batch, _DOC, keys).gas_used
    # The first one-step transfer of an item, then a batch of 100 first transfers.
    transfer_single = registry.transfer(operator, single, distributor.address).gas_used
    transfer_batch = registry.transfer_batch(operator, batch, distributor.address).gas_used
    # Ship + receive of an item that was never shipped before (its first, dearest shipment).
    shipped = claim_batch[0]
    ship = registry.ship(operator, shipped, retailer.address).gas_used
    receive = registry.receive(retailer, shipped).gas_used
    registry.record_retail_sale(retailer, shipped)
    signature = sign_claim(
        shipped, codes[0], consumer.address, chain_id=registry.chain_id, contract=registry.address
    )
    claim = registry.claim(relayer, shipped, consumer.address, signature).gas_used

    mint_single, mint_batch, erc721_transfer = _baseline(chain, admin, brand_admin, distributor)
    return GasReport(
        register_single=register_single,
        register_batch100_per_item=register_batch // BATCH,
        register_batch100_claim_per_item=register_claims // BATCH,
        transfer_single=transfer_single,
        transfer_batch100_per_item=transfer_batch // BATCH,
        ship_receive_single=ship + receive,
        claim=claim,
        baseline_erc721_mint_single=mint_single,
        baseline_erc721_mint_batch100_per_item=mint_batch // BATCH,
        baseline_erc721_transfer_single=erc721_transfer,
        evm=_evm_name(chain),
    )


@dataclass(frozen=True)
class RelayGasReport:
    """A one-step transfer sent by the custodian itself and relayed for it (issue 5).

    The relayed figures are the gas payer's whole ``execute`` transaction. A signer's first
    relayed request also creates its nonce slot at the forwarder (20,000 gas more than every
    later request pays to bump it).
    """

    transfer_direct: int
    transfer_relayed_first: int
    transfer_relayed_later: int
    evm: str

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def measure_relay_gas(chain: Chain | None = None) -> RelayGasReport:
    """A direct transfer, then a custodian's first and second relayed ones, on a fresh chain."""
    chain = chain or connect_memory()
    admin, brand_admin, operator, retailer, gas_payer = chain.dev_accounts[:5]
    registry = Registry.deploy(chain.w3, admin)
    brand_id = registry.admit_brand(admin, brand_admin.address, "Bench", ["0614141"])
    registry.add_operator(brand_admin, brand_id, operator.address)
    relayer = Relayer(registry, gas_payer)
    custodian: LocalAccount = Account.create()
    chain.fund(custodian.address, 10**18)  # only for the direct transfer
    direct, first, later = items = _items("relay", 3)
    for item in items:
        registry.register(operator, item, _DOC)
        registry.transfer(operator, item, custodian.address)

    transfer_direct = registry.transfer(custodian, direct, retailer.address).gas_used
    relayed = []
    for item in (first, later):
        request = relayer.request(custodian.address, transfer_data(item, retailer.address))
        relayed.append(relayer.relay(request, relayer.sign(custodian, request)).gas_used)
    return RelayGasReport(
        transfer_direct=transfer_direct,
        transfer_relayed_first=relayed[0],
        transfer_relayed_later=relayed[1],
        evm=_evm_name(chain),
    )


@dataclass(frozen=True)
class AggregationGasReport:
    """Packing, moving and unpacking cases and pallets (issue 7).

    ``pallet_ship_receive_{n}`` is one ship plus one receipt of a pallet holding ``n`` items
    (each pallet's first shipment): the same whatever ``n``, as only the pallet's slot moves.
    """

    pack_batch100_per_item: int
    """100 items into a new case, the case's creation included, divided by 100."""
    pack_case_onto_pallet: int
    """One case onto a new pallet (the pallet's creation included)."""
    pallet_ship_receive_2: int
    pallet_ship_receive_200: int
    unpack_batch100_per_item: int
    evm: str

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def measure_aggregation_gas(chain: Chain | None = None) -> AggregationGasReport:
    """Pack, ship + receive and unpack on a fresh chain; every figure a whole transaction."""
    chain = chain or connect_memory()
    admin, brand_admin, operator, distributor = chain.dev_accounts[:4]
    registry = Registry.deploy(chain.w3, admin)
    brand_id = registry.admit_brand(admin, brand_admin.address, "Bench", ["0614141"])
    registry.add_operator(brand_admin, brand_id, operator.address)
    case, pallet, small, large = (container_id(_sscc(n)) for n in range(1, 5))

    content = _items("case", BATCH)
    registry.register_batch(operator, content, _DOC)
    pack = registry.pack(operator, case, content).gas_used
    pack_case = registry.pack(operator, pallet, [case]).gas_used
    round_trips = []
    for box, count in ((small, 2), (large, 200)):
        goods = _items(f"pallet{count}-", count)
        for start in range(0, count, BATCH):
            registry.register_batch(operator, goods[start : start + BATCH], _DOC)
        registry.pack(operator, box, goods)
        ship = registry.ship(operator, box, distributor.address).gas_used
        round_trips.append(ship + registry.receive(distributor, box).gas_used)
    registry.unpack(operator, pallet, [case])
    unpack = registry.unpack(operator, case, content).gas_used
    return AggregationGasReport(
        pack_batch100_per_item=pack // BATCH,
        pack_case_onto_pallet=pack_case,
        pallet_ship_receive_2=round_trips[0],
        pallet_ship_receive_200=round_trips[1],
        unpack_batch100_per_item=unpack // BATCH,
        evm=_evm_name(chain),
    )


def _sscc(reference: int) -> str:
    payload = f"00614141{reference:09d}"
    return payload + str(check_digit(payload))


def _items(label: str, count: int) -> list[ItemId]:
    return [item_id(_GTIN, f"{label}{n}") for n in range(count)]


def _baseline(
    chain: Chain, deployer: LocalAccount, holder: LocalAccount, receiver: LocalAccount
) -> tuple[int, int, int]:
    """Mint one, mint 100, transfer one on OpenZeppelin 5's ERC-721.

    The holder already owns a token before the measured single mint, so the figure is the
    ordinary mint (52k), not a holder's first (69k): the registry's single registration is
    compared with the cheaper baseline.
    """
    artifact = load_artifact("BaselineERC721")
    tx = Transactor(chain.w3, ErrorDecoder(artifact.abi))
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    address = tx.send(deployer, factory.constructor()).receipt["contractAddress"]
    token = chain.w3.eth.contract(address=address, abi=artifact.abi)
    tx.send(deployer, token.functions.mint(holder.address, 1))
    mint_single = tx.send(deployer, token.functions.mint(holder.address, 2)).gas_used
    ids = list(range(1_000, 1_000 + BATCH))
    mint_batch = tx.send(deployer, token.functions.mintBatch(holder.address, ids)).gas_used
    transfer = tx.send(
        holder, token.functions.transferFrom(holder.address, receiver.address, 1)
    ).gas_used
    return mint_single, mint_batch, transfer


def _evm_name(chain: Chain) -> str:
    version = chain.w3.client_version
    return f"{version} (chain id {chain.chain_id})"
