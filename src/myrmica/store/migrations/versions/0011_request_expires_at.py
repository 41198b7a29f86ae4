"""``job_requests.expires_at``: a request picked up after it fails as expired instead of running
(Fastlane's ``expiration``); ``ant_blacklist``: ants no queen schedules to (Fastlane's blacklist)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('job_requests', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'ant_blacklist',
        sa.Column('ant_id', sa.String(100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('ant_id', name='pk_ant_blacklist'),
    )


def downgrade() -> None:
    op.drop_table('ant_blacklist')
    with op.batch_alter_table('job_requests') as batch:
        batch.drop_column('expires_at')
