"""Alembic environment: the URL and seed data come from hub_service.db.upgrade."""

from alembic import context
from sqlalchemy import create_engine

from hub_service.store.schema import metadata

config = context.config
engine = create_engine(config.attributes["url"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations(seed_environments=config.attributes.get("seed_environments", []))
engine.dispose()
