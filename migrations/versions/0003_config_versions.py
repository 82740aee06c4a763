"""config versions: the config_version table (versioned region and national files), append-only

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('config_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner', 'version', name='uq_config_version_owner_version')
    )
    with op.batch_alter_table('config_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_config_version_owner'), ['owner'], unique=False)
    # Versions are the history of who changed what: a rollback adds a version, nothing rewrites one.
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER config_version_no_{action.lower()} BEFORE {action} ON config_version "
                "BEGIN SELECT RAISE(ABORT, 'config_version is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION config_version_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'config_version is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER config_version_append_only BEFORE UPDATE OR DELETE ON config_version "
            "FOR EACH ROW EXECUTE FUNCTION config_version_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS config_version_no_update")
        op.execute("DROP TRIGGER IF EXISTS config_version_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS config_version_append_only ON config_version")
        op.execute("DROP FUNCTION IF EXISTS config_version_append_only()")
    with op.batch_alter_table('config_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_config_version_owner'))

    op.drop_table('config_version')
