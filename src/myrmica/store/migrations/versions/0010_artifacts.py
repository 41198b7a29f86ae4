"""Artifacts: the rows of what is kept in the artifact store (spec §5)

* ``artifacts``: one row per stored object (a task's zip, a cache, a user upload) with its key in the
  store, its SHA-256, owner, request/task and expiry.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'artifacts',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('key', sa.String(900), nullable=False),
        sa.Column('bucket', sa.String(500), nullable=False),
        sa.Column('name', sa.String(300), nullable=False),
        sa.Column('group', sa.String(200), nullable=False),
        sa.Column('kind', sa.String(30), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('etag', sa.String(100), nullable=False),
        sa.Column('content_type', sa.String(200), nullable=False),
        sa.Column('content_length', sa.BigInteger(), nullable=False),
        sa.Column('metadata', sa.JSON(), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('owner_key', sa.String(64), nullable=False),
        sa.Column('user_id', sa.String(26), nullable=True),
        sa.Column('organization_id', sa.String(26), nullable=True),
        sa.Column('job_type', sa.String(100), nullable=False),
        sa.Column('job_request_id', sa.String(26), nullable=True),
        sa.Column('job_execution_id', sa.String(26), nullable=True),
        sa.Column('task_execution_id', sa.String(26), nullable=True),
        sa.Column('task_type', sa.String(100), nullable=False),
        sa.Column('artifact_order', sa.Integer(), nullable=False),
        sa.Column('permissions', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_artifacts'),
        sa.UniqueConstraint('key', name='uq_artifacts_key'),
    )
    op.create_index('ix_artifacts_request', 'artifacts', ['job_request_id', 'task_type'])
    op.create_index('ix_artifacts_sha256', 'artifacts', ['sha256'])
    op.create_index('ix_artifacts_expires_at', 'artifacts', ['expires_at'])
    op.create_index('ix_artifacts_owner', 'artifacts', ['owner_key', 'created_at'])


def downgrade() -> None:
    op.drop_table('artifacts')
