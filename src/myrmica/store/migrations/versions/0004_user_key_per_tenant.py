"""Idempotency keys per tenant: ``user_key`` is unique per owner, not across every tenant

A key another tenant used would otherwise return their request (their params and logs) or block
yours. SQLite cannot drop a table's UNIQUE constraint, so there the table is rebuilt (batch mode);
its indexes are rebuilt with it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

WAITING = "job_state IN ('PENDING', 'PAUSED')"


def _sqlite_indexes() -> None:
    """The indexes batch mode cannot carry over as they were (the queue index's order and predicate)."""
    op.create_index('ix_job_requests_queue', 'job_requests', [sa.text('job_priority DESC'), 'created_at', 'id'],
                    sqlite_where=sa.text(WAITING))


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_job_requests_queue', table_name='job_requests')
        with op.batch_alter_table('job_requests', recreate='always') as batch:
            batch.drop_constraint('uq_job_requests_user_key', type_='unique')
        _sqlite_indexes()
    else:
        op.drop_constraint('uq_job_requests_user_key', 'job_requests', type_='unique')
    op.create_index('uq_job_requests_owner_user_key', 'job_requests', ['owner_key', 'user_key'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_job_requests_owner_user_key', table_name='job_requests')
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_job_requests_queue', table_name='job_requests')
        with op.batch_alter_table('job_requests', recreate='always') as batch:
            batch.create_unique_constraint('uq_job_requests_user_key', ['user_key'])
        _sqlite_indexes()
    else:
        op.create_unique_constraint('uq_job_requests_user_key', 'job_requests', ['user_key'])
