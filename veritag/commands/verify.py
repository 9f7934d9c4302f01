"""``veritag verify``: an item's verdict straight from the chain, no API and no database.

With ``--against-api URL`` it also asks a Veritag API for the same item and compares the two
answers field by field, so a hacked or impersonated verify page is caught.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.console import Console
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from ledger.chain import connect_rpc
from ledger.epcis.verify import verify_document
from ledger.errors import ChainError, ConfigError, VeritagError
from ledger.identifiers import InvalidDigitalLink, parse_digital_link
from ledger.merkle import BatchProof
from ledger.registry import Registry
from ledger.settings import Settings
from ledger.verify import Verdict, verify_item
from veritag.session import Session

__all__ = ["EpcisMismatch", "VerificationMismatch", "batch_proof_of", "register"]

console = Console()


class VerificationMismatch(VeritagError):
    """The API's answer differs from the chain's."""

    status = 409

    def __init__(self, differences: list[str]) -> None:
        self.differences = differences
        super().__init__(
            "the API's answer differs from the chain's:\n"
            + "\n".join(f"  {d}" for d in differences)
        )


def register(app: typer.Typer) -> None:
    """Add ``verify`` to ``app``."""
    app.command("verify")(verify_command)


def verify_command(
    link: Annotated[str | None, typer.Argument(help="The GS1 Digital Link on the label.")] = None,
    *,
    epcis: Annotated[
        Path | None,
        typer.Option(
            "--epcis",
            help="Check every event of this EPCIS document against the chain instead.",
            dir_okay=False,
        ),
    ] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Any node of the chain.")] = None,
    contract: Annotated[
        str | None, typer.Option("--contract", help="Registry address (from the proof).")
    ] = None,
    against_api: Annotated[
        str | None, typer.Option("--against-api", help="Compare with this API's answer.")
    ] = None,
    batch_proof: Annotated[
        Path | None,
        typer.Option(
            "--batch-proof",
            help="For an item of a Merkle batch not yet moved: its proof (the answer's "
            "proof.batch, as JSON) to check against the root on chain.",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./.veritag).")
    ] = None,
) -> None:
    """Verdict, custody and proof of the item behind LINK, read from the chain itself.

    With --epcis FILE, each event of the EPCIS document FILE (an export, a query result or
    a partner's document) is checked against the chain: recorded there by its hash, or
    exactly what the chain's own event says. Exits non-zero if any event is not.
    """
    if epcis is not None:
        if link is not None or against_api is not None:
            raise ConfigError("--epcis checks a document; give no LINK and no --against-api")
        _verify_epcis(epcis, registry_from_options(rpc_url, contract, data_dir), as_json)
        return
    if link is None:
        raise ConfigError("give the LINK of an item, or --epcis FILE")
    parsed = parse_digital_link(link)
    if parsed.gtin is None or parsed.serial is None:
        raise InvalidDigitalLink(link, "verify needs a GTIN (01) and a serial (21) to name an item")
    registry = registry_from_options(rpc_url, contract, data_dir)
    api_answer = _api_answer(against_api, link) if against_api else None
    proof = batch_proof_of(batch_proof, api_answer)
    try:
        verdict = verify_item(
            registry,
            parsed.gtin,
            parsed.serial,
            batch_proofs=None if proof is None else (lambda _item: proof),
        )
    except (BadFunctionCallOutput, ContractLogicError) as exc:
        raise ChainError(
            f"the contract at {registry.address} does not answer like a Veritag registry ({exc})"
        ) from None
    summary = chain_summary(verdict)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        console.print(
            f"[bold]{verdict.verdict.value}[/bold] — "
            + "; ".join(r.message for r in verdict.reasons)
        )
        console.print(
            f"chain {verdict.proof.chain_id}, contract {verdict.proof.contract}, block "
            f"{verdict.proof.block}, {verdict.proof.seq} event(s) on chain"
        )
    if against_api:
        assert api_answer is not None  # read above
        differences = compare(summary, api_answer)
        if differences:
            raise VerificationMismatch(differences)
        console.print(f"[green]✔[/green] {against_api} gives the same answer as the chain")


def _verify_epcis(path: Path, registry: Registry, as_json: bool) -> None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the EPCIS document {path}: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path} is not an EPCIS document (a JSON object)")
    checks = verify_document(registry, document)
    if as_json:
        print(json.dumps([c.as_json() for c in checks], indent=2))
    else:
        for check in checks:
            mark = "[green]✔[/green]" if check.ok else "[red]✘[/red]"
            console.print(f"{mark} event {check.index} {check.event_id or ''}")
            for finding in check.findings:
                console.print(f"    {finding}", highlight=False)
    failed = [c.index for c in checks if not c.ok]
    if failed:
        raise EpcisMismatch(failed, len(checks))
    if not as_json:
        console.print(f"all {len(checks)} event(s) hold on chain {registry.chain_id}")


class EpcisMismatch(VeritagError):
    """Events of an EPCIS document that the chain does not bear out."""

    status = 409

    def __init__(self, failed: list[int], total: int) -> None:
        self.failed = failed
        super().__init__(
            f"{len(failed)} of {total} event(s) do not hold on chain: index "
            + ", ".join(str(i) for i in failed)
        )


def chain_summary(verdict: Verdict) -> dict[str, Any]:
    """The parts of a verdict both the chain and the API must agree on."""
    return {
        "verdict": verdict.verdict.value,
        "reasons": sorted(r.code for r in verdict.reasons),
        "item_id": verdict.item_id.hex(),
        "chain_id": verdict.proof.chain_id,
        "contract": verdict.proof.contract,
        "seq": verdict.proof.seq,
        "events": [[seq, tx] for seq, _, tx in verdict.proof.events],
        "batch_root": None if verdict.batch is None else "0x" + verdict.batch.proof.root.hex(),
    }


def compare(chain: dict[str, Any], api: dict[str, Any]) -> list[str]:
    """Field-by-field differences between the chain's summary and the API's JSON."""
    # The answer may be forged: any part may be missing or of the wrong type.
    proof = _object(api.get("proof"))
    api_summary = {
        "verdict": api.get("verdict"),
        "reasons": sorted((_object(r).get("code") for r in _array(api.get("reasons"))), key=str),
        "item_id": _object(api.get("item")).get("item_id"),
        "chain_id": proof.get("chain_id"),
        "contract": proof.get("contract"),
        "seq": proof.get("seq"),
        "events": [
            [_object(e).get("seq"), _object(e).get("transaction")]
            for e in _array(proof.get("events"))
        ],
        "batch_root": _object(proof.get("batch")).get("root"),
    }
    return [
        f"{key}: chain says {chain[key]!r}, API says {api_summary[key]!r}"
        for key in chain
        if chain[key] != api_summary[key]
    ]


def batch_proof_of(path: Path | None, api_answer: dict[str, Any] | None) -> BatchProof | None:
    """The Merkle proof to check: from ``--batch-proof`` or the API's ``proof.batch``. Only
    the root, index, claim key and siblings are taken; the leaf is recomputed and the root
    is checked on chain, so a forged proof makes no item genuine."""
    if path is not None:
        try:
            raw: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the batch proof {path}: {exc}") from None
    else:
        raw = _object(_object(_object(api_answer).get("proof")).get("batch")) or None
    if raw is None:
        return None
    try:
        claim = raw.get("claim_key")
        return BatchProof(
            root=bytes.fromhex(str(raw["root"]).removeprefix("0x")),
            index=int(raw["index"]),
            claim_key=None if claim is None else Web3.to_checksum_address(str(claim)),
            siblings=tuple(bytes.fromhex(str(h).removeprefix("0x")) for h in raw["siblings"]),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"the batch proof is malformed ({exc})") from None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _array(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def registry_from_options(
    rpc_url: str | None, contract: str | None, data_dir: Path | None
) -> Registry:
    if contract and not rpc_url:
        raise ConfigError("--contract needs --rpc-url: the node of the chain named in the proof")
    if rpc_url and contract:
        if not Web3.is_address(contract):
            raise ConfigError(
                f"--contract {contract!r} is not an Ethereum address (0x and 40 hex digits)"
            )
        chain = connect_rpc(rpc_url)
        if not chain.w3.eth.get_code(Web3.to_checksum_address(contract)):
            raise ChainError(
                f"no contract at {contract} on chain {chain.chain_id} ({rpc_url}); check "
                "--contract and --rpc-url against the proof of the answer"
            )
        return Registry(chain.w3, contract)
    overrides = {k: v for k, v in [("rpc_url", rpc_url), ("data_dir", data_dir)] if v}
    return Session(Settings(**overrides)).registry()  # type: ignore[arg-type]


def _api_answer(api_base: str, link: str) -> dict[str, Any]:
    parts = urlsplit(link)
    url = api_base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        response = httpx.get(url, headers={"accept": "application/json"}, timeout=10)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ChainError(f"cannot reach the API at {url}: {exc}") from None
    if response.status_code != 200:
        raise ChainError(f"the API at {url} answered {response.status_code}: {response.text}")
    try:
        answer = response.json()
    except ValueError:
        raise ChainError(f"the API at {url} did not answer JSON; is it a Veritag API?") from None
    if not isinstance(answer, dict):
        raise ChainError(f"the API at {url} answered JSON that is not a verdict object")
    return answer
