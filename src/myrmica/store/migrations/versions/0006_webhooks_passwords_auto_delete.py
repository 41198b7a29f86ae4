"""The webhook outbox, passwords for basic auth, and a request's delete time

* ``webhook_deliveries``: each webhook call stored before its first attempt, with its state, attempts,
  next attempt and the lease of the sender trying it (queen/webhooks.py).
* ``users.password_hash``: an argon2id hash for HTTP basic auth (Tork's ``POST /users``).
* ``job_requests.delete_at``: when an ended request is deleted with its runs and logs (Tork's
  ``autoDelete``).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('source', sa.String(100), nullable=False),
        sa.Column('event', sa.String(100), nullable=False),
        sa.Column('method', sa.String(10), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('headers', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('policy', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lease_owner', sa.String(100), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_webhook_deliveries'),
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['state', 'next_attempt_at'])
    op.create_index('ix_webhook_deliveries_source', 'webhook_deliveries', ['source'])
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('password_hash', sa.String(200), nullable=True))
    # (a plain ADD COLUMN on both backends: SQLite adds a nullable column in place)
    op.add_column('job_requests', sa.Column('delete_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_job_requests_delete_at', 'job_requests', ['delete_at'])


def downgrade() -> None:
    op.drop_index('ix_job_requests_delete_at', table_name='job_requests')
    with op.batch_alter_table('job_requests') as batch:
        batch.drop_column('delete_at')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('password_hash')
    op.drop_index('ix_webhook_deliveries_source', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
