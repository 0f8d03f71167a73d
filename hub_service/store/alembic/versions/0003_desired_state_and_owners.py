"""Notebooks hold what was asked of them (desired, pending) for the controller; owners can be locked.

A row the hub never had (``on_hub`` false, now ``admitted``) and a delete not yet carried out
become pending changes, which the controller finishes after the upgrade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade(**kwargs):
    with op.batch_alter_table("notebooks") as batch:
        batch.add_column(sa.Column("desired", sa.String(8), nullable=False, server_default="running"))
        batch.add_column(sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_notebooks_status", ["status"])
        batch.create_index("ix_notebooks_pending", ["pending"])
    notebooks = sa.table(
        "notebooks",
        sa.column("status", sa.String),
        sa.column("desired", sa.String),
        sa.column("pending", sa.Boolean),
        sa.column("on_hub", sa.Boolean),
        sa.column("deleted_time", sa.DateTime),
    )
    op.execute(notebooks.update().where(notebooks.c.status.in_(["stopped", "failed"])).values(desired="stopped"))
    op.execute(
        notebooks.update()
        .where(sa.or_(notebooks.c.on_hub == sa.false(), notebooks.c.deleted_time.is_not(None)))
        .values(pending=True)
    )
    with op.batch_alter_table("notebooks") as batch:
        batch.alter_column("on_hub", new_column_name="admitted")
    owners = op.create_table(
        "owners",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    rows = op.get_bind().execute(sa.text("SELECT DISTINCT owner FROM notebooks")).scalars().all()
    op.bulk_insert(owners, [{"name": name, "version": 0} for name in rows])


def downgrade():
    op.drop_table("owners")
    with op.batch_alter_table("notebooks") as batch:
        batch.alter_column("admitted", new_column_name="on_hub")
        batch.drop_index("ix_notebooks_pending")
        batch.drop_index("ix_notebooks_status")
        for column in ("retry_at", "attempts", "pending", "desired"):
            batch.drop_column(column)
