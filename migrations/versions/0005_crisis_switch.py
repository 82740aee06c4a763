"""crisis switch: the append-only log of the national crisis switch (crisis_change)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('crisis_change',
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('by', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('crisis_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crisis_change_at'), ['at'], unique=False)
    # The switch's history is the record of who redirected which regions' callers, when and why
    # (and the state restored after a restart): nothing rewrites it.
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER crisis_change_no_{action.lower()} BEFORE {action} ON crisis_change "
                "BEGIN SELECT RAISE(ABORT, 'crisis_change is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION crisis_change_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'crisis_change is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER crisis_change_append_only BEFORE UPDATE OR DELETE ON crisis_change "
            "FOR EACH ROW EXECUTE FUNCTION crisis_change_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS crisis_change_no_update")
        op.execute("DROP TRIGGER IF EXISTS crisis_change_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS crisis_change_append_only ON crisis_change")
        op.execute("DROP FUNCTION IF EXISTS crisis_change_append_only()")
    with op.batch_alter_table('crisis_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crisis_change_at'))

    op.drop_table('crisis_change')
