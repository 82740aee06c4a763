"""nurse phone: which kind of phone a nurse's endpoint serves (browser softphone or SIP phone)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 03:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing nurses keep what they had: the browser softphone.
    with op.batch_alter_table('nurse', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='ws'))


def downgrade() -> None:
    with op.batch_alter_table('nurse', schema=None) as batch_op:
        batch_op.drop_column('phone')
