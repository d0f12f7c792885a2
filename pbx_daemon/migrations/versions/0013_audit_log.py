"""audit_log: who merged which cards (and, in details, what moved and the merged card's
fields).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('employee_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=30), nullable=False),
        sa.Column('object_kind', sa.String(length=20), nullable=False),
        sa.Column('kept_id', sa.Integer(), nullable=True),
        sa.Column('merged_id', sa.Integer(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                                name=op.f('fk_audit_log_employee_id_employees'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
