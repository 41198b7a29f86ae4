"""The Strait dialect's rows: jobs (slug per project), runs' trigger facts, dedup claims, dependencies

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'strait_jobs',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('owner_key', sa.String(64), nullable=False),
        sa.Column('slug', sa.String(128), nullable=False),
        sa.Column('job_type', sa.String(100), nullable=False),
        sa.Column('tags', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_strait_jobs'),
        sa.UniqueConstraint('owner_key', 'slug', name='uq_strait_jobs_owner_key_slug'),
    )
    op.create_index('ix_strait_jobs_owner_created', 'strait_jobs', ['owner_key', 'created_at'])
    op.create_table(
        'strait_runs',
        sa.Column('request_id', sa.String(26), nullable=False),
        sa.Column('job_id', sa.String(26), nullable=False),
        sa.Column('owner_key', sa.String(64), nullable=False),
        sa.Column('payload_hash', sa.String(64), nullable=False),
        sa.Column('idempotency_key', sa.String(256), nullable=True),
        sa.Column('concurrency_key', sa.String(256), nullable=False),
        sa.Column('dependency_key', sa.String(256), nullable=True),
        sa.Column('info', sa.JSON(), nullable=False),
        sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('request_id', name='pk_strait_runs'),
    )
    op.create_index('ix_strait_runs_job_created', 'strait_runs', ['job_id', 'created_at'])
    op.create_index('ix_strait_runs_expires_at', 'strait_runs', ['expires_at'])
    op.create_table(
        'strait_dedup',
        sa.Column('job_id', sa.String(26), nullable=False),
        sa.Column('payload_hash', sa.String(64), nullable=False),
        sa.Column('request_id', sa.String(26), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('job_id', 'payload_hash', name='pk_strait_dedup'),
    )
    op.create_table(
        'strait_dependencies',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('job_id', sa.String(26), nullable=False),
        sa.Column('depends_on_job_id', sa.String(26), nullable=False),
        sa.Column('condition', sa.String(20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_strait_dependencies'),
    )
    op.create_index('ix_strait_dependencies_job_id', 'strait_dependencies', ['job_id'])
    op.create_index('ix_strait_dependencies_depends_on_job_id', 'strait_dependencies', ['depends_on_job_id'])


def downgrade() -> None:
    op.drop_table('strait_dependencies')
    op.drop_table('strait_dedup')
    op.drop_index('ix_strait_runs_expires_at', table_name='strait_runs')
    op.drop_index('ix_strait_runs_job_created', table_name='strait_runs')
    op.drop_table('strait_runs')
    op.drop_index('ix_strait_jobs_owner_created', table_name='strait_jobs')
    op.drop_table('strait_jobs')
