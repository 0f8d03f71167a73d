"""A history of each notebook's statuses, and the last activity the hub reported.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(**kwargs):
    op.create_table(
        "notebook_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notebook_id", sa.String(64), nullable=False, index=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text),
    )
    with op.batch_alter_table("notebooks") as batch:
        batch.add_column(sa.Column("last_activity", sa.DateTime(timezone=True)))


def downgrade():
    with op.batch_alter_table("notebooks") as batch:
        batch.drop_column("last_activity")
    op.drop_table("notebook_events")
