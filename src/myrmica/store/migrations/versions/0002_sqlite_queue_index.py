"""SQLite: the scheduler's queue index (waiting requests by priority, then age)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

WAITING = "job_state IN ('PENDING', 'PAUSED')"


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ix_job_requests_queue', 'job_requests', [sa.text('job_priority DESC'), 'created_at', 'id'],
                        sqlite_where=sa.text(WAITING))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_job_requests_queue', table_name='job_requests')
