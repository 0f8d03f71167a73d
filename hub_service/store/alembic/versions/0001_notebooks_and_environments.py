"""Notebooks and environments, seeded with the configured default environments.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import time
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(seed_environments=(), **kwargs):
    environments = op.create_table(
        "environments",
        sa.Column("environment_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notebooks",
        sa.Column("notebook_id", sa.String(64), primary_key=True),
        sa.Column("uid", sa.String(36), nullable=False, unique=True),
        sa.Column("owner", sa.String(255), nullable=False, index=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("server_name", sa.String(30), nullable=False),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_time", sa.DateTime(timezone=True)),
        sa.Column("on_hub", sa.Boolean, nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_notebooks_owner_name"),
        sa.UniqueConstraint("owner", "server_name", name="uq_notebooks_owner_server"),
    )
    now = datetime.now(timezone.utc)
    stamp = int(time.time() * 1000)
    op.bulk_insert(
        environments,
        [
            {
                "environment_id": f"environment_{stamp}_{i:04d}",
                "name": spec["name"],
                "spec": spec,
                "created": now,
                "updated": now,
            }
            for i, spec in enumerate(seed_environments, start=1)
        ],
    )


def downgrade():
    op.drop_table("notebooks")
    op.drop_table("environments")
