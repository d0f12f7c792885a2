"""Employee schedules replace the on-shift checkbox (issue 17): employee_shifts (weekly),
employee_absences (vacation, sick leave), and employees.off_until ("off now", which
expires) instead of employees.on_shift.

An employee who was off shift is "off" for one more day from the upgrade, then back by
the clock; nobody has shifts yet, so everyone else stays available as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:30:00
"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'employee_shifts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('employee_id', sa.Integer(), nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('starts', sa.Time(), nullable=False),
        sa.Column('ends', sa.Time(), nullable=False),
        sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_employee_shifts_weekday')),
        sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_employee_shifts_employee_id_employees'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_employee_shifts')),
    )
    op.create_index(op.f('ix_employee_shifts_employee_id'), 'employee_shifts', ['employee_id'])
    op.create_table(
        'employee_absences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('employee_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.CheckConstraint("kind IN ('vacation', 'sick', 'other')", name=op.f('ck_employee_absences_kind')),
        sa.CheckConstraint('last_day >= first_day', name=op.f('ck_employee_absences_days_in_order')),
        sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_employee_absences_employee_id_employees'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_employee_absences')),
    )
    op.create_index(op.f('ix_employee_absences_employee_id'), 'employee_absences', ['employee_id'])
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('off_until', sa.DateTime(timezone=True), nullable=True))
    employees = sa.table('employees', sa.column('on_shift', sa.Boolean()),
                         sa.column('off_until', sa.DateTime(timezone=True)))
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    op.execute(employees.update().where(employees.c.on_shift.is_(False)).values(off_until=tomorrow))
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('on_shift')


def downgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_shift', sa.Boolean(), nullable=False, server_default=sa.true()))
    employees = sa.table('employees', sa.column('on_shift', sa.Boolean()),
                         sa.column('off_until', sa.DateTime(timezone=True)))
    op.execute(employees.update().where(employees.c.off_until > datetime.now(timezone.utc))
               .values(on_shift=False))
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('off_until')
    op.drop_index(op.f('ix_employee_absences_employee_id'), table_name='employee_absences')
    op.drop_table('employee_absences')
    op.drop_index(op.f('ix_employee_shifts_employee_id'), table_name='employee_shifts')
    op.drop_table('employee_shifts')
