"""Request labels: the tags a dialect gives a request (Tork's job tags), for search

A JSON list of strings kept as text, NULL when the request has none.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job_requests') as batch:
        batch.add_column(sa.Column('labels', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job_requests') as batch:
        batch.drop_column('labels')
