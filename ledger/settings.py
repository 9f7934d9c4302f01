"""Settings of a Veritag process, read once from ``VERITAG_*`` environment variables.

Command-line options override them. Every field is documented here and in the README's
settings table (a test checks that the two agree).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ChainChoice", "Settings"]

ChainChoice = Literal["memory", "local"]


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
