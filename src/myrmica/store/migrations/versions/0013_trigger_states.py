"""``trigger_states``: an event trigger's watermark and claimed objects (spec §2.8), changed only by
conditional updates on ``version``

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trigger_states',
        sa.Column('owner_key', sa.String(64), nullable=False),
        sa.Column('job_type', sa.String(100), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('trigger_type', sa.String(20), nullable=False),
        sa.Column('cursor', sa.JSON(), nullable=True),
        sa.Column('pending', sa.JSON(), nullable=False),
        sa.Column('fired_count', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.Column('version', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.Column('last_fired_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('owner_key', 'job_type', 'name', name='pk_trigger_states'),
    )


def downgrade() -> None:
    op.drop_table('trigger_states')
