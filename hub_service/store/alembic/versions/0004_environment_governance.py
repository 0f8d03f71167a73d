"""Environments count their changes; notebooks know the revision they run, why the service
stopped them, and who they are shared with.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(**kwargs):
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("notebooks") as batch:
        batch.add_column(sa.Column("environment_revision", sa.Integer))
        batch.add_column(sa.Column("stop_reason", sa.Text))
    op.create_table(
        "notebook_shares",
        sa.Column("notebook_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_notebook_shares_name", "kind", "name"),
    )


def downgrade():
    op.drop_table("notebook_shares")
    with op.batch_alter_table("notebooks") as batch:
        batch.drop_column("stop_reason")
        batch.drop_column("environment_revision")
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("revision")
