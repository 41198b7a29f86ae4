"""PostgreSQL: partial indexes for waiting and active requests, instead of one on every state

A conditional update (``WHERE id = $1 AND job_state = $2``) planned generically on a young table
could pick the (job_state, scheduled_at) index over the primary key, and then read every request in
that state: each start scanned the whole queue. A partial index whose predicate names its states
cannot serve ``job_state = $2``, so the primary key is the only choice; and requests that ended
leave these indexes, which stay as small as the queue.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

WAITING = "job_state IN ('PENDING', 'PAUSED')"
ACTIVE = "job_state IN ('READY', 'EXECUTING')"


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_job_requests_due', table_name='job_requests')
        op.create_index('ix_job_requests_waiting', 'job_requests', ['scheduled_at'],
                        postgresql_where=sa.text(WAITING))
        op.create_index('ix_job_requests_active', 'job_requests', ['owner_key', 'job_type'],
                        postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_job_requests_active', table_name='job_requests')
        op.drop_index('ix_job_requests_waiting', table_name='job_requests')
        op.create_index('ix_job_requests_due', 'job_requests', ['job_state', 'scheduled_at'])
