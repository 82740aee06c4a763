"""agents: the nurse registry (nurse) and the append-only presence log (presence_change)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('nurse',
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('served_regions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('presence_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('home_region', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('endpoint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sip_secret', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('presence_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('presence_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('presence_call_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['home_region'], ['region.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('endpoint'),
    sa.UniqueConstraint('user_id')
    )
    with op.batch_alter_table('nurse', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nurse_home_region'), ['home_region'], unique=False)

    op.create_table('presence_change',
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nurse_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('call_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['nurse_id'], ['nurse.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('presence_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_presence_change_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_presence_change_nurse_id'), ['nurse_id'], unique=False)
    # Presence history is the record of working time and missed offers: nothing rewrites it.
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER presence_change_no_{action.lower()} BEFORE {action} ON presence_change "
                "BEGIN SELECT RAISE(ABORT, 'presence_change is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION presence_change_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'presence_change is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER presence_change_append_only BEFORE UPDATE OR DELETE ON presence_change "
            "FOR EACH ROW EXECUTE FUNCTION presence_change_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS presence_change_no_update")
        op.execute("DROP TRIGGER IF EXISTS presence_change_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS presence_change_append_only ON presence_change")
        op.execute("DROP FUNCTION IF EXISTS presence_change_append_only()")
    with op.batch_alter_table('presence_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_presence_change_nurse_id'))
        batch_op.drop_index(batch_op.f('ix_presence_change_at'))

    op.drop_table('presence_change')
    with op.batch_alter_table('nurse', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nurse_home_region'))

    op.drop_table('nurse')
