"""What a run's own code and its end notice need (Strait's SDK callbacks, run tokens and webhooks)

* ``run_signals``: one row per request that has any — its last SDK heartbeat, checkpoint, progress and
  result, and its end webhook (URL, secret, shape; encrypted), with ``end_notice`` WANTED until the
  end's delivery is in the outbox, then SENT.
* ``webhook_deliveries.dedup_key``: unique; a second delivery for the same event is not stored.
* ``webhook_deliveries.signing``: how each attempt is signed (scheme and secret; encrypted).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'run_signals',
        sa.Column('request_id', sa.String(26), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('checkpoint', sa.Text(), nullable=True),
        sa.Column('checkpoint_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('progress', sa.JSON(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('end_webhook', sa.Text(), nullable=True),
        sa.Column('end_notice', sa.String(10), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('request_id', name='pk_run_signals'),
    )
    op.create_index('ix_run_signals_heartbeat_at', 'run_signals', ['heartbeat_at'])
    op.create_index('ix_run_signals_end_notice', 'run_signals', ['end_notice'])
    op.add_column('webhook_deliveries', sa.Column('dedup_key', sa.String(200), nullable=True))
    op.add_column('webhook_deliveries', sa.Column('signing', sa.Text(), nullable=True))
    op.create_index('ux_webhook_deliveries_dedup_key', 'webhook_deliveries', ['dedup_key'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_webhook_deliveries_dedup_key', table_name='webhook_deliveries')
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_column('signing')
        batch.drop_column('dedup_key')
    op.drop_index('ix_run_signals_end_notice', table_name='run_signals')
    op.drop_index('ix_run_signals_heartbeat_at', table_name='run_signals')
    op.drop_table('run_signals')
