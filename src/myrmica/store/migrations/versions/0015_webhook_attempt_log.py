"""``webhook_deliveries.attempt_log``: every attempt of a call (time, status, error, state after it,
the start of the answer's body and its headers), not only the last one (Fastlane's
``webhookDispatch`` lists each attempt)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('webhook_deliveries', sa.Column('attempt_log', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_column('attempt_log')
