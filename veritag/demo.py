"""`veritag demo`: the whole story on a fresh in-memory chain, told step by step."""

from __future__ import annotations

from rich.console import Console
from web3 import Web3

from ledger.chain import Chain, connect_memory
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.errors import ContractError
from ledger.identifiers import item_id
from ledger.registry import Registry
from ledger.transactions import TxResult
from veritag.render import history_table, item_summary

__all__ = ["run_demo"]

GTIN = "00614141123452"
PREFIX = "0614141"


def run_demo(console: Console, chain: Chain | None = None) -> Registry:
    """Play the demo; returns the registry so callers (tests) can inspect the end state."""
    chain = chain or connect_memory()
    admin, brand_admin, factory, distributor, retailer, consumer, relayer = chain.dev_accounts[:7]
    names: dict[str, str] = {
        admin.address: "registry admin",
        brand_admin.address: "Acme (brand admin)",
        factory.address: "Acme factory line 1",
        distributor.address: "Northwind Distribution",
        retailer.address: "Corner Shop",
        consumer.address: "a consumer",
        relayer.address: "the Veritag relayer",
    }

    def step(text: str, result: TxResult | None = None) -> None:
        gas = (
            f"  [dim](block {result.block_number}, {result.gas_used:,} gas)[/dim]" if result else ""
        )
        console.print(f"[green]✔[/green] {text}{gas}")

    def refused(text: str, error: ContractError) -> None:
        console.print(f"[yellow]✘[/yellow] {text}\n    [red]refused:[/red] {error}")

    console.rule("[bold]Veritag demo[/bold] — in-memory EVM (eth-tester)")
    registry = Registry.deploy(chain.w3, admin)
    step(f"Registry deployed at {registry.address} on chain {registry.chain_id}")
    brand = registry.admit_brand(admin, brand_admin.address, "Acme Watches", [PREFIX])
    step(f"Registry admin admitted brand {brand} 'Acme Watches' with GS1 prefix {PREFIX}")
    step(
        "Acme named its factory line as an operator",
        registry.add_operator(brand_admin, brand, factory.address),
    )
    registry.set_partner(brand_admin, brand, distributor.address)
    step(
        "Acme named Northwind and Corner Shop as authorised partners",
        registry.set_partner(brand_admin, brand, retailer.address),
    )

    serials = ["W-0001", "W-0002", "W-0003"]
    items = [item_id(GTIN, s) for s in serials]
    codes = [generate_claim_code() for _ in items]
    keys = [claim_key(i, c).address for i, c in zip(items, codes, strict=True)]
    doc = Web3.keccak(text='{"name": "Acme Diver 300", "model": "AD300", "lot": "L42"}')
    result = registry.register_batch(factory, items, doc, keys)
    step(f"Factory registered {len(items)} watches (GTIN {GTIN}) with hidden claim codes", result)
    for serial, item, code in zip(serials, items, codes, strict=True):
        console.print(f"    serial {serial}  item {item.hex()[:18]}…  hidden code {code}")

    step(
        "Factory shipped all three to Northwind",
        registry.ship_batch(factory, items, distributor.address),
    )
    step(
        "Northwind received them (two-step custody: the recipient must act)",
        registry.receive_batch(distributor, items),
    )
    step(
        "Northwind shipped them to Corner Shop",
        registry.ship_batch(distributor, items, retailer.address),
    )
    step("Corner Shop received them", registry.receive_batch(retailer, items))
    step(
        "Corner Shop sold W-0001 to a consumer (the claim is now armed)",
        registry.record_retail_sale(retailer, items[0]),
    )

    signature = sign_claim(
        items[0], codes[0], consumer.address, chain_id=registry.chain_id, contract=registry.address
    )
    step(
        "The consumer claimed W-0001 with its hidden code; the relayer paid the gas",
        registry.claim(relayer, items[0], consumer.address, signature),
    )

    step("Acme recalled W-0002 (a faulty batch)", registry.recall(brand_admin, [items[1]]))
    try:
        registry.transfer(retailer, items[1], consumer.address)
    except ContractError as error:
        refused("Corner Shop tried to hand the recalled W-0002 to a customer", error)

    registry.record_retail_sale(retailer, items[2])
    forged = sign_claim(
        items[2],
        generate_claim_code(),
        relayer.address,
        chain_id=registry.chain_id,
        contract=registry.address,
    )
    try:
        registry.claim(relayer, items[2], relayer.address, forged)
    except ContractError as error:
        refused("Someone without the hidden code tried to claim W-0003", error)

    state = registry.item(items[0])
    assert state is not None  # registered above
    console.rule("W-0001 now")
    console.print(item_summary(state, names))
    console.print(history_table(registry.history(items[0]), names))
    return registry
