"""import_presets: the client-base import's column mapping, saved per source (amoCRM,
Bitrix24, 1C, Excel or any name).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:15:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'import_presets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'],
                                name=op.f('fk_import_presets_created_by_id_employees'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_presets')),
        sa.UniqueConstraint('kind', 'name', name='uq_import_presets_kind_name'),
    )


def downgrade() -> None:
    op.drop_table('import_presets')
