"""``api_tokens.scopes``: the scopes of a Strait API key (``jobs:read jobs:trigger``, space-separated);
NULL for a token that may do all its user may

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_tokens', sa.Column('scopes', sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('scopes')
