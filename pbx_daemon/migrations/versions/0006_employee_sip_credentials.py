"""employees.sip_md5_cred, sip_password_set_at: the digest credentials a registering phone
authenticates with (PJSIP auth_type = md5: the HA1 of endpoint:pbx-crm:password; the
password itself is shown once and never stored).

Existing employees get none: their phones stay as they were configured (a static contact
in the lab) until an admin sets a password.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sip_md5_cred', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('sip_password_set_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('sip_password_set_at')
        batch_op.drop_column('sip_md5_cred')
