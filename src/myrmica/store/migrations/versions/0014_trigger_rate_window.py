"""``trigger_states.rate_hits``: the times a trigger fired within its ``rate_limit`` window (spec §2.8:
"sliding window persisted in trigger_states"), changed by a conditional update on ``rate_version``
so that every queen counts against the same window

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('trigger_states', sa.Column('rate_hits', sa.JSON(), nullable=True))
    op.add_column('trigger_states', sa.Column('rate_version', sa.BigInteger(), nullable=False,
                                              server_default=sa.text('0')))


def downgrade() -> None:
    with op.batch_alter_table('trigger_states') as batch:
        batch.drop_column('rate_version')
        batch.drop_column('rate_hits')
