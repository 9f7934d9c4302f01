"""Aggregation: the container a record is packed in, and the SSCC behind a container id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

``item.container_id`` and ``custody_event.container_id`` are derived from the chain
(``ItemPacked`` / ``ItemUnpacked``), so ``veritag index --rebuild`` refills them; existing
rows predate aggregation and stay NULL. ``container_code`` is the store's own (the SSCC
never goes on chain), written when a pack is submitted through the service.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("container_id", sa.String(length=66), nullable=True))
        batch.create_index("ix_item_container_id", ["container_id"])
    with op.batch_alter_table("custody_event") as batch:
        batch.add_column(sa.Column("container_id", sa.String(length=66), nullable=True))
        batch.create_index("ix_custody_event_container_id", ["container_id"])
    op.create_table(
        "container_code",
        sa.Column("container_id", sa.String(length=66), nullable=False),
        sa.Column("sscc", sa.String(length=18), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("container_id"),
        sa.UniqueConstraint("sscc", name="uq_container_code_sscc"),
    )


def downgrade() -> None:
    op.drop_table("container_code")
    with op.batch_alter_table("custody_event") as batch:
        batch.drop_index("ix_custody_event_container_id")
        batch.drop_column("container_id")
    with op.batch_alter_table("item") as batch:
        batch.drop_index("ix_item_container_id")
        batch.drop_column("container_id")
