"""Working hours: working_hours (a department's, or a tracking number's, weekly hours),
calendar_days (admins' closed and extra working days), departments.greeting_file (the
after-hours greeting), and the call outcomes after_hours / voicemail.

Existing departments get no hours: no schedule means always open, so routing is
unchanged until an admin enters hours.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD_OUTCOMES = ("answered", "missed", "busy", "failed", "no_answer", "blocked", "abandoned",
                "in_progress")
NEW_OUTCOMES = OLD_OUTCOMES + ("after_hours", "voicemail")


def _in(values):
    return f"outcome IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        'working_hours',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('tracking_number_id', sa.Integer(), nullable=True),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('ranges', sa.String(length=200), nullable=False),
        sa.CheckConstraint('weekday >= 0 AND weekday <= 6', name=op.f('ck_working_hours_weekday')),
        sa.CheckConstraint('(department_id IS NULL) <> (tracking_number_id IS NULL)',
                           name=op.f('ck_working_hours_one_owner')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='CASCADE',
                                name=op.f('fk_working_hours_department_id_departments')),
        sa.ForeignKeyConstraint(['tracking_number_id'], ['tracking_numbers.id'], ondelete='CASCADE',
                                name=op.f('fk_working_hours_tracking_number_id_tracking_numbers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_working_hours')),
    )
    op.create_index(op.f('ix_working_hours_department_id'), 'working_hours', ['department_id'])
    op.create_index(op.f('ix_working_hours_tracking_number_id'), 'working_hours', ['tracking_number_id'])
    op.create_table(
        'calendar_days',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('ranges', sa.String(length=200), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.CheckConstraint("kind IN ('closed', 'working')", name=op.f('ck_calendar_days_kind')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='CASCADE',
                                name=op.f('fk_calendar_days_department_id_departments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_days')),
    )
    op.create_index(op.f('ix_calendar_days_day'), 'calendar_days', ['day'])
    op.create_index(op.f('ix_calendar_days_department_id'), 'calendar_days', ['department_id'])
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('greeting_file', sa.String(length=80), nullable=True))
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_outcome'), type_='check')
        batch_op.create_check_constraint(op.f('ck_calls_outcome'), _in(NEW_OUTCOMES))


def downgrade() -> None:
    op.execute("UPDATE calls SET outcome = 'missed' WHERE outcome IN ('after_hours', 'voicemail')")
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_outcome'), type_='check')
        batch_op.create_check_constraint(op.f('ck_calls_outcome'), _in(OLD_OUTCOMES))
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_column('greeting_file')
    op.drop_index(op.f('ix_calendar_days_department_id'), table_name='calendar_days')
    op.drop_index(op.f('ix_calendar_days_day'), table_name='calendar_days')
    op.drop_table('calendar_days')
    op.drop_index(op.f('ix_working_hours_tracking_number_id'), table_name='working_hours')
    op.drop_index(op.f('ix_working_hours_department_id'), table_name='working_hours')
    op.drop_table('working_hours')
