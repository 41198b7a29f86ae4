"""Formicary's accounts and catalogs

* ``organizations``: owner, parent, licence policy, sticky message; ``users``: notification settings,
  picture and profile URL, sticky message, whether the email is verified.
* ``user_invitations`` (expiring codes that join an organisation), ``email_verifications``.
* ``error_codes`` (the admin's catalogue the engine matches failures against).
* ``job_resources`` with their configs and uses (quota allocations), ``subscriptions``.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False)]


def upgrade() -> None:
    with op.batch_alter_table('organizations') as batch:
        batch.add_column(sa.Column('owner_user_id', sa.String(26), nullable=False, server_default=''))
        batch.add_column(sa.Column('parent_id', sa.String(26), nullable=False, server_default=''))
        batch.add_column(sa.Column('license_policy', sa.String(200), nullable=False, server_default=''))
        batch.add_column(sa.Column('sticky_message', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('notify', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('picture_url', sa.String(500), nullable=False, server_default=''))
        batch.add_column(sa.Column('url', sa.String(500), nullable=False, server_default=''))
        batch.add_column(sa.Column('sticky_message', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('email_verified', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'user_invitations',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('email', sa.String(200), nullable=False),
        sa.Column('invitation_code', sa.String(64), nullable=False),
        sa.Column('invited_by_user_id', sa.String(26), nullable=False),
        sa.Column('organization_id', sa.String(26), nullable=False),
        sa.Column('org_unit', sa.String(200), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('accepted_by_user_id', sa.String(26), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name='fk_user_invitations_organization_id_organizations'),
        sa.PrimaryKeyConstraint('id', name='pk_user_invitations'),
        sa.UniqueConstraint('invitation_code', name='uq_user_invitations_invitation_code'),
    )
    op.create_table(
        'email_verifications',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('email', sa.String(200), nullable=False),
        sa.Column('email_code', sa.String(64), nullable=False),
        sa.Column('user_id', sa.String(26), nullable=False),
        sa.Column('organization_id', sa.String(26), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_email_verifications_user_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_email_verifications'),
        sa.UniqueConstraint('email_code', name='uq_email_verifications_email_code'),
    )
    op.create_index('ix_email_verifications_user', 'email_verifications', ['user_id'])
    op.create_table(
        'error_codes',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('regex', sa.String(500), nullable=False),
        sa.Column('exit_code', sa.Integer(), nullable=True),
        sa.Column('error_code', sa.String(100), nullable=False),
        sa.Column('display_code', sa.String(100), nullable=False),
        sa.Column('display_message', sa.Text(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('command_scope', sa.String(500), nullable=False),
        sa.Column('platform_scope', sa.String(100), nullable=False),
        sa.Column('task_type_scope', sa.String(100), nullable=False),
        sa.Column('job_type', sa.String(100), nullable=False),
        sa.Column('action', sa.String(20), nullable=False),
        sa.Column('retry', sa.Integer(), nullable=False),
        sa.Column('hard_failure', sa.Boolean(), nullable=False),
        sa.Column('organization_id', sa.String(26), nullable=True),
        sa.Column('user_id', sa.String(26), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint('id', name='pk_error_codes'),
    )
    op.create_table(
        'job_resources',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('owner_key', sa.String(64), nullable=False),
        sa.Column('organization_id', sa.String(26), nullable=True),
        sa.Column('user_id', sa.String(26), nullable=True),
        sa.Column('resource_type', sa.String(100), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('platform', sa.String(100), nullable=False),
        sa.Column('category', sa.String(100), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('external_id', sa.String(200), nullable=False),
        sa.Column('quota', sa.Integer(), nullable=False),
        sa.Column('lease_timeout', sa.BigInteger(), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('extract_config', sa.JSON(), nullable=True),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint('id', name='pk_job_resources'),
    )
    op.create_index('ix_job_resources_owner', 'job_resources', ['owner_key', 'resource_type'])
    op.create_table(
        'job_resource_configs',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('job_resource_id', sa.String(26), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('kind', sa.String(50), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('secret', sa.Boolean(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(['job_resource_id'], ['job_resources.id'], ondelete='CASCADE',
                                name='fk_job_resource_configs_job_resource_id_job_resources'),
        sa.PrimaryKeyConstraint('id', name='pk_job_resource_configs'),
        sa.UniqueConstraint('job_resource_id', 'name', name='uq_job_resource_configs_job_resource_id_name'),
    )
    op.create_table(
        'job_resource_uses',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('job_resource_id', sa.String(26), nullable=False),
        sa.Column('job_request_id', sa.String(26), nullable=False),
        sa.Column('task_type', sa.String(100), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['job_resource_id'], ['job_resources.id'], ondelete='CASCADE',
                                name='fk_job_resource_uses_job_resource_id_job_resources'),
        sa.PrimaryKeyConstraint('id', name='pk_job_resource_uses'),
    )
    op.create_index('ix_job_resource_uses_resource', 'job_resource_uses', ['job_resource_id'])
    op.create_table(
        'subscriptions',
        sa.Column('id', sa.String(26), nullable=False),
        sa.Column('user_id', sa.String(26), nullable=True),
        sa.Column('organization_id', sa.String(26), nullable=True),
        sa.Column('kind', sa.String(50), nullable=False),
        sa.Column('policy', sa.String(50), nullable=False),
        sa.Column('period', sa.String(50), nullable=False),
        sa.Column('price', sa.BigInteger(), nullable=False),
        sa.Column('cpu_quota', sa.BigInteger(), nullable=False),
        sa.Column('disk_quota', sa.BigInteger(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint('id', name='pk_subscriptions'),
    )


def downgrade() -> None:
    op.drop_table('subscriptions')
    op.drop_index('ix_job_resource_uses_resource', table_name='job_resource_uses')
    op.drop_table('job_resource_uses')
    op.drop_table('job_resource_configs')
    op.drop_index('ix_job_resources_owner', table_name='job_resources')
    op.drop_table('job_resources')
    op.drop_table('error_codes')
    op.drop_index('ix_email_verifications_user', table_name='email_verifications')
    op.drop_table('email_verifications')
    op.drop_table('user_invitations')
    with op.batch_alter_table('users') as batch:
        for column in ('email_verified', 'sticky_message', 'url', 'picture_url', 'notify'):
            batch.drop_column(column)
    with op.batch_alter_table('organizations') as batch:
        for column in ('sticky_message', 'license_policy', 'parent_id', 'owner_user_id'):
            batch.drop_column(column)
