"""Settings of a Veritag process, read once from ``VERITAG_*`` environment variables.

Command-line options override them. Every field is documented here and in the README's
settings table (a test checks that the two agree).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import ConfigError

__all__ = ["ChainChoice", "Environment", "Settings"]

ChainChoice = Literal["memory", "local"]
Environment = Literal["development", "production"]

MIN_SECRET_LENGTH = 32
_PLACEHOLDERS = ("change", "secret", "development", "example", "password", "default", "test")
"""Words that mark a secret copied from documentation or a sample file."""


class Settings(BaseSettings):
    """Where state lives and which chain to use."""

    model_config = SettingsConfigDict(env_prefix="VERITAG_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".veritag"),
        description="Data directory: keystore, deployments, the local chain's state and log.",
    )
    chain: ChainChoice = Field(
        default="local",
        description="`local`: a managed anvil node; `memory`: an in-process chain per command.",
    )
    rpc_url: str | None = Field(
        default=None, description="Any EVM JSON-RPC URL; when set it wins over `chain`."
    )
    anvil_port: int = Field(default=8545, description="Port of the managed local anvil node.")
    passphrase: SecretStr | None = Field(
        default=None,
        description="Passphrase of keystore accounts; prompted for when unset.",
    )
    keystore_iterations: int | None = Field(
        default=None,
        description="PBKDF2 iterations for new keystore files; unset = eth-account's scrypt "
        "default. Lower only for tests.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; unset = the SQLite file "
        "`<data dir>/veritag.sqlite`. PostgreSQL: `postgresql+psycopg://user@host/db`.",
    )
    confirmations: int = Field(
        default=0,
        ge=0,
        description="Blocks below the head before the indexer treats a block as final; the "
        "deepest reorganisation it can roll back. Raise it on public networks.",
    )
    chain_id: int | None = Field(
        default=None,
        gt=0,
        description="Chain id the node must be on; a node on another chain is refused. Unset "
        "= whatever the node reports.",
    )
    contract: str | None = Field(
        default=None,
        description="Address of an existing registry to use (with `rpc_url`) instead of the "
        "one deployed from this data directory.",
    )
    start_block: int = Field(
        default=0,
        ge=0,
        description="First block the indexer reads when the registry's deployment block is "
        "unknown (a `contract` not deployed from this data directory).",
    )
    environment: Environment = Field(
        default="development",
        description="`development` (default) or `production`: production refuses to serve "
        "without a real `secret_key`.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server secret (at least 32 characters, not a placeholder); required in "
        "production.",
    )
    ready_max_lag: int = Field(
        default=5,
        ge=0,
        description="Blocks the indexer may be behind the chain head while `/readyz` still "
        "answers ready.",
    )
    rate_limit_scans_per_minute: int = Field(
        default=120,
        ge=0,
        description="Scans (and anonymous reports) per minute per client address, in bursts "
        "of as many; 0 = no limit. Counted per API worker process.",
    )
    rate_limit_key_per_minute: int = Field(
        default=1200,
        ge=0,
        description="Scans (and reports) per minute per API key, in bursts of as many; "
        "0 = no limit. Counted per API worker process.",
    )
    epcis_schema: Path | None = Field(
        default=None,
        description="GS1's EPCIS 2.0 JSON schema (a copy of "
        "https://ref.gs1.org/standards/epcis/epcis-json-schema.json): EPCIS capture validates "
        "every document against it first. Unset, capture checks only what it applies.",
    )

    webhook_private_destinations: bool = Field(
        default=False,
        description="Let webhooks point to loopback, private, link-local and other non-public "
        "addresses (receivers on this machine or network). Off (default): such URLs are "
        "refused when a webhook is recorded, and each delivery connects only to public "
        "addresses its host resolves to.",
    )

    max_request_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1,
        description="Largest request body the API reads, in bytes (default 2 MiB); a larger "
        "one is answered 413.",
    )

    def require_production_secrets(self) -> None:
        """ConfigError when production runs without a real secret (or with a placeholder)."""
        if self.environment != "production":
            return
        problem = _secret_problem(self.secret_key)
        if problem is not None:
            raise ConfigError(
                f"VERITAG_SECRET_KEY {problem}; production (VERITAG_ENVIRONMENT=production) "
                f"needs a random secret of at least {MIN_SECRET_LENGTH} characters, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )


def _secret_problem(secret: SecretStr | None) -> str | None:
    """Why ``secret`` is not a real secret, or None when it is one."""
    if secret is None:
        return "is not set"
    value = secret.get_secret_value().strip()
    if not value:
        return "is empty"
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDERS):
        return "is a placeholder"
    if len(set(value)) < 8:  # "xxxxxxxx…", "abababab…"
        return "is a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None
