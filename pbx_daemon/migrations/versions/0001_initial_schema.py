"""initial schema: every table of pbx_daemon.crm.models, plus the reference data (the eight
inquiry classes of seed 003 and the default deal stages).

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 15:58:23.906135
"""
from alembic import op
import sqlalchemy as sa

# Frozen copies: a migration must not change when the models module does.
INQUIRY_CLASSES = (
    ("lead", "Lead", "Лид"),
    ("spam", "Spam", "Спам"),
    ("client", "Client", "Клиент"),
    ("partner", "Partner", "Партнёр"),
    ("own", "Own", "Свои"),
    ("non_target", "Non-target", "Нецелевой"),
    ("wrong_number", "Wrong number", "Ошибка номера"),
    ("unclear", "Unclear", "Непонятно"),
)
DEAL_STAGES = (
    ("New", False, False), ("Qualification", False, False), ("Proposal sent", False, False),
    ("Negotiation", False, False), ("Won", True, False), ("Lost", False, True),
)


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_scripts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_scripts')),
    sa.UniqueConstraint('name', name=op.f('uq_call_scripts_name'))
    )
    op.create_table('deal_stages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('is_won', sa.Boolean(), nullable=False),
    sa.Column('is_lost', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_stages')),
    sa.UniqueConstraint('name', name=op.f('uq_deal_stages_name'))
    )
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('head_id', sa.Integer(), nullable=True),
    sa.Column('duty_employee_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('owner_timeout', sa.Integer(), nullable=True),
    sa.Column('group_timeout', sa.Integer(), nullable=True),
    sa.Column('head_timeout', sa.Integer(), nullable=True),
    sa.Column('top_timeout', sa.Integer(), nullable=True),
    sa.Column('fallback_ring_group', sa.String(length=400), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('group_timeout IS NULL OR (group_timeout > 0 AND group_timeout <= 600)', name=op.f('ck_departments_group_timeout_range')),
    sa.CheckConstraint('head_timeout IS NULL OR (head_timeout > 0 AND head_timeout <= 600)', name=op.f('ck_departments_head_timeout_range')),
    sa.CheckConstraint('owner_timeout IS NULL OR (owner_timeout > 0 AND owner_timeout <= 600)', name=op.f('ck_departments_owner_timeout_range')),
    sa.CheckConstraint('top_timeout IS NULL OR (top_timeout > 0 AND top_timeout <= 600)', name=op.f('ck_departments_top_timeout_range')),
    sa.ForeignKeyConstraint(['duty_employee_id'], ['employees.id'], name='fk_departments_duty_employee_id_employees', ondelete='SET NULL', use_alter=True),
    sa.ForeignKeyConstraint(['head_id'], ['employees.id'], name='fk_departments_head_id_employees', ondelete='SET NULL', use_alter=True),
    sa.ForeignKeyConstraint(['parent_id'], ['departments.id'], name=op.f('fk_departments_parent_id_departments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('name', name=op.f('uq_departments_name'))
    )
    op.create_table('inquiry_classes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_ru', sa.String(length=120), nullable=False),
    sa.Column('is_system', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inquiry_classes')),
    sa.UniqueConstraint('code', name=op.f('uq_inquiry_classes_code')),
    sa.UniqueConstraint('name', name=op.f('uq_inquiry_classes_name'))
    )
    op.create_table('kb_articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('tags', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_articles'))
    )
    op.create_table('settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_settings'))
    )
    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources')),
    sa.UniqueConstraint('name', name=op.f('uq_sources_name'))
    )
    op.create_table('deal_stage_task_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stage_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('offset_minutes', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("type IN ('call', 'meeting', 'email')", name=op.f('ck_deal_stage_task_rules_type')),
    sa.ForeignKeyConstraint(['stage_id'], ['deal_stages.id'], name=op.f('fk_deal_stage_task_rules_stage_id_deal_stages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_stage_task_rules'))
    )
    op.create_table('employees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('sip_endpoint', sa.String(length=40), nullable=True),
    sa.Column('extension', sa.String(length=10), nullable=True),
    sa.Column('mobile', sa.String(length=16), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('on_shift', sa.Boolean(), nullable=False),
    sa.Column('dnd', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'owner', 'head', 'manager', 'operator', 'cold_operator')", name=op.f('ck_employees_role')),
    sa.CheckConstraint("sip_endpoint IS NULL OR sip_endpoint <> ''", name=op.f('ck_employees_sip_endpoint_not_empty')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_employees_department_id_departments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employees')),
    sa.UniqueConstraint('login', name=op.f('uq_employees_login')),
    sa.UniqueConstraint('sip_endpoint', name=op.f('uq_employees_sip_endpoint'))
    )
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_employees_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_employees_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_employees_mobile'), ['mobile'], unique=False)

    op.create_table('inquiry_subclasses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['inquiry_classes.id'], name=op.f('fk_inquiry_subclasses_class_id_inquiry_classes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inquiry_subclasses')),
    sa.UniqueConstraint('class_id', 'name', name='uq_inquiry_subclasses_class_name')
    )
    op.create_table('tracking_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_tracking_numbers_department_id_departments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_tracking_numbers_source_id_sources'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_numbers')),
    sa.UniqueConstraint('number', name=op.f('uq_tracking_numbers_number'))
    )
    op.create_table('blocklist',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'], name=op.f('fk_blocklist_created_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocklist')),
    sa.UniqueConstraint('phone', name=op.f('uq_blocklist_phone'))
    )
    op.create_table('call_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('script_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('source_file', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'], name=op.f('fk_call_lists_created_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['script_id'], ['call_scripts.id'], name=op.f('fk_call_lists_script_id_call_scripts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_lists'))
    )
    op.create_table('companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_key', sa.String(length=300), nullable=True),
    sa.Column('tax_id', sa.String(length=20), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('website', sa.String(length=300), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_companies_department_id_departments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['employees.id'], name=op.f('fk_companies_responsible_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companies'))
    )
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_companies_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_companies_name_key'), ['name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_companies_responsible_id'), ['responsible_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_companies_tax_id'), ['tax_id'], unique=False)

    op.create_table('call_list_operators',
    sa.Column('call_list_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['call_list_id'], ['call_lists.id'], name=op.f('fk_call_list_operators_call_list_id_call_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_call_list_operators_employee_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_list_id', 'employee_id', name=op.f('pk_call_list_operators'))
    )
    op.create_table('company_phones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('phone_ext', sa.String(length=10), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_company_phones_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company_phones'))
    )
    with op.batch_alter_table('company_phones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_company_phones_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_company_phones_phone'), ['phone'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.String(length=200), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_contacts_company_id_companies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['employees.id'], name=op.f('fk_contacts_responsible_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_name_key'), ['name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_responsible_id'), ['responsible_id'], unique=False)

    op.create_table('contact_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_emails_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_emails'))
    )
    with op.batch_alter_table('contact_emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_emails_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_emails_email'), ['email'], unique=False)

    op.create_table('contact_phones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('phone_ext', sa.String(length=10), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_phones_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_phones'))
    )
    with op.batch_alter_table('contact_phones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_phones_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_phones_phone'), ['phone'], unique=False)

    op.create_table('leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=True),
    sa.Column('name_key', sa.String(length=200), nullable=True),
    sa.Column('company_name', sa.String(length=300), nullable=True),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('phone_ext', sa.String(length=10), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('inquiry_id', sa.Integer(), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('new', 'in_progress', 'converted', 'lost')", name=op.f('ck_leads_status')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_leads_company_id_companies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_leads_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_leads_department_id_departments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name='fk_leads_inquiry_id_inquiries', ondelete='SET NULL', use_alter=True),
    sa.ForeignKeyConstraint(['responsible_id'], ['employees.id'], name=op.f('fk_leads_responsible_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_leads_source_id_sources'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leads_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_name_key'), ['name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_responsible_id'), ['responsible_id'], unique=False)

    op.create_table('deals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('stage_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('probability', sa.Integer(), nullable=False),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_deals_amount')),
    sa.CheckConstraint('probability >= 0 AND probability <= 100', name=op.f('ck_deals_probability')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_deals_company_id_companies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_deals_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_deals_department_id_departments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_deals_lead_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['employees.id'], name=op.f('fk_deals_responsible_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['stage_id'], ['deal_stages.id'], name=op.f('fk_deals_stage_id_deal_stages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals'))
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deals_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deals_responsible_id'), ['responsible_id'], unique=False)

    op.create_table('call_list_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_list_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('company_name', sa.String(length=300), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('phone_ext', sa.String(length=10), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('disposition', sa.String(length=60), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('callback_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('assigned_operator_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('deal_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'in_progress', 'done')", name=op.f('ck_call_list_entries_status')),
    sa.ForeignKeyConstraint(['assigned_operator_id'], ['employees.id'], name=op.f('fk_call_list_entries_assigned_operator_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['call_list_id'], ['call_lists.id'], name=op.f('fk_call_list_entries_call_list_id_call_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_call_list_entries_deal_id_deals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_call_list_entries_lead_id_leads'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_list_entries')),
    sa.UniqueConstraint('call_list_id', 'phone', 'phone_ext', name='uq_call_list_entries_list_phone')
    )
    with op.batch_alter_table('call_list_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_list_entries_assigned_operator_id'), ['assigned_operator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_list_entries_call_list_id'), ['call_list_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_list_entries_phone'), ['phone'], unique=False)

    op.create_table('inquiries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('phone_ext', sa.String(length=10), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('name_key', sa.String(length=200), nullable=True),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('tracking_number_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('subclass_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('utm_source', sa.String(length=200), nullable=True),
    sa.Column('utm_medium', sa.String(length=200), nullable=True),
    sa.Column('utm_campaign', sa.String(length=200), nullable=True),
    sa.Column('utm_content', sa.String(length=200), nullable=True),
    sa.Column('utm_term', sa.String(length=200), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('missed_count', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('deal_id', sa.Integer(), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('call', 'web_form', 'email', 'cold_call')", name=op.f('ck_inquiries_channel')),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'closed')", name=op.f('ck_inquiries_status')),
    sa.ForeignKeyConstraint(['class_id'], ['inquiry_classes.id'], name=op.f('fk_inquiries_class_id_inquiry_classes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_inquiries_company_id_companies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_inquiries_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_inquiries_deal_id_deals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_inquiries_department_id_departments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_inquiries_lead_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['employees.id'], name=op.f('fk_inquiries_responsible_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_inquiries_source_id_sources'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subclass_id'], ['inquiry_subclasses.id'], name=op.f('fk_inquiries_subclass_id_inquiry_subclasses'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tracking_number_id'], ['tracking_numbers.id'], name=op.f('fk_inquiries_tracking_number_id_tracking_numbers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inquiries'))
    )
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inquiries_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiries_name_key'), ['name_key'], unique=False)
        batch_op.create_index('ix_inquiries_phone_status', ['phone', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiries_responsible_id'), ['responsible_id'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('caller', sa.String(length=16), nullable=True),
    sa.Column('caller_raw', sa.String(length=80), nullable=True),
    sa.Column('caller_name', sa.String(length=120), nullable=True),
    sa.Column('callee', sa.String(length=16), nullable=True),
    sa.Column('dialled_number', sa.String(length=16), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('employee_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('disposition', sa.String(length=60), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('talk_seconds', sa.Integer(), nullable=True),
    sa.Column('handled_by', sa.String(length=20), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('deal_id', sa.Integer(), nullable=True),
    sa.Column('inquiry_id', sa.Integer(), nullable=True),
    sa.Column('call_list_entry_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("direction IN ('inbound', 'outbound', 'internal')", name=op.f('ck_calls_direction')),
    sa.CheckConstraint("handled_by IN ('daemon', 'agi_fallback', 'fallback_group', 'reconciled')", name=op.f('ck_calls_handled_by')),
    sa.CheckConstraint("outcome IN ('answered', 'missed', 'busy', 'failed', 'no_answer', 'blocked', 'abandoned', 'in_progress')", name=op.f('ck_calls_outcome')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['employees.id'], name=op.f('fk_calls_answered_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['call_list_entry_id'], ['call_list_entries.id'], name=op.f('fk_calls_call_list_entry_id_call_list_entries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_calls_company_id_companies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_calls_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_calls_deal_id_deals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_calls_department_id_departments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_calls_employee_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_calls_inquiry_id_inquiries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_calls_lead_id_leads'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('linkedid', name=op.f('uq_calls_linkedid'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_answered_by_started', ['answered_by_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_call_list_entry_id'), ['call_list_entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_callee'), ['callee'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_caller'), ['caller'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_deal_id'), ['deal_id'], unique=False)
        batch_op.create_index('ix_calls_employee_started', ['employee_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_inquiry_id'), ['inquiry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_started_at'), ['started_at'], unique=False)

    op.create_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('responsible_id', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('remind_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('deal_id', sa.Integer(), nullable=True),
    sa.Column('inquiry_id', sa.Integer(), nullable=True),
    sa.Column('call_list_entry_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("comment <> ''", name=op.f('ck_tasks_comment_required')),
    sa.CheckConstraint("status IN ('open', 'done', 'cancelled')", name=op.f('ck_tasks_status')),
    sa.CheckConstraint("title <> ''", name=op.f('ck_tasks_title_required')),
    sa.CheckConstraint("type IN ('call', 'meeting', 'email')", name=op.f('ck_tasks_type')),
    sa.ForeignKeyConstraint(['call_list_entry_id'], ['call_list_entries.id'], name=op.f('fk_tasks_call_list_entry_id_call_list_entries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_tasks_company_id_companies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_tasks_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'], name=op.f('fk_tasks_created_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_tasks_deal_id_deals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_tasks_inquiry_id_inquiries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_tasks_lead_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['employees.id'], name=op.f('fk_tasks_responsible_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tasks_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_inquiry_id'), ['inquiry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_responsible_id'), ['responsible_id'], unique=False)
        batch_op.create_index('ix_tasks_responsible_status_deadline', ['responsible_id', 'status', 'deadline'], unique=False)

    op.create_table('call_legs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=True),
    sa.Column('endpoint', sa.String(length=80), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.String(length=64), nullable=True),
    sa.Column('ringing_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.CheckConstraint("outcome IN ('ringing', 'answered', 'no_answer', 'busy', 'rejected', 'cancelled', 'failed')", name=op.f('ck_call_legs_outcome')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_legs_call_id_calls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_call_legs_employee_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_legs'))
    )
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_legs_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_legs_channel_id'), ['channel_id'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('duration_seconds', sa.Double(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_recordings_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('call_id', name=op.f('uq_recordings_call_id'))
    )
    _seed_reference_data()


def _seed_reference_data() -> None:
    classes = sa.table("inquiry_classes", sa.column("code"), sa.column("name"),
                       sa.column("name_ru"), sa.column("is_system"), sa.column("position"))
    op.bulk_insert(classes, [
        {"code": code, "name": name, "name_ru": name_ru, "is_system": True, "position": i}
        for i, (code, name, name_ru) in enumerate(INQUIRY_CLASSES)
    ])
    stages = sa.table("deal_stages", sa.column("name"), sa.column("position"),
                      sa.column("is_won"), sa.column("is_lost"))
    op.bulk_insert(stages, [
        {"name": name, "position": i, "is_won": won, "is_lost": lost}
        for i, (name, won, lost) in enumerate(DEAL_STAGES)
    ])


def downgrade() -> None:
    op.drop_table('recordings')
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_legs_channel_id'))
        batch_op.drop_index(batch_op.f('ix_call_legs_call_id'))

    op.drop_table('call_legs')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_responsible_status_deadline')
        batch_op.drop_index(batch_op.f('ix_tasks_responsible_id'))
        batch_op.drop_index(batch_op.f('ix_tasks_inquiry_id'))
        batch_op.drop_index(batch_op.f('ix_tasks_deadline'))

    op.drop_table('tasks')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_started_at'))
        batch_op.drop_index(batch_op.f('ix_calls_lead_id'))
        batch_op.drop_index(batch_op.f('ix_calls_inquiry_id'))
        batch_op.drop_index('ix_calls_employee_started')
        batch_op.drop_index(batch_op.f('ix_calls_deal_id'))
        batch_op.drop_index(batch_op.f('ix_calls_contact_id'))
        batch_op.drop_index(batch_op.f('ix_calls_company_id'))
        batch_op.drop_index(batch_op.f('ix_calls_caller'))
        batch_op.drop_index(batch_op.f('ix_calls_callee'))
        batch_op.drop_index(batch_op.f('ix_calls_call_list_entry_id'))
        batch_op.drop_index('ix_calls_answered_by_started')

    op.drop_table('calls')
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inquiries_responsible_id'))
        batch_op.drop_index('ix_inquiries_phone_status')
        batch_op.drop_index(batch_op.f('ix_inquiries_name_key'))
        batch_op.drop_index(batch_op.f('ix_inquiries_email'))

    op.drop_table('inquiries')
    with op.batch_alter_table('call_list_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_list_entries_phone'))
        batch_op.drop_index(batch_op.f('ix_call_list_entries_call_list_id'))
        batch_op.drop_index(batch_op.f('ix_call_list_entries_assigned_operator_id'))

    op.drop_table('call_list_entries')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deals_responsible_id'))
        batch_op.drop_index(batch_op.f('ix_deals_company_id'))

    op.drop_table('deals')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_responsible_id'))
        batch_op.drop_index(batch_op.f('ix_leads_phone'))
        batch_op.drop_index(batch_op.f('ix_leads_name_key'))
        batch_op.drop_index(batch_op.f('ix_leads_email'))

    op.drop_table('leads')
    with op.batch_alter_table('contact_phones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_phones_phone'))
        batch_op.drop_index(batch_op.f('ix_contact_phones_contact_id'))

    op.drop_table('contact_phones')
    with op.batch_alter_table('contact_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_emails_email'))
        batch_op.drop_index(batch_op.f('ix_contact_emails_contact_id'))

    op.drop_table('contact_emails')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_responsible_id'))
        batch_op.drop_index(batch_op.f('ix_contacts_name_key'))
        batch_op.drop_index(batch_op.f('ix_contacts_company_id'))

    op.drop_table('contacts')
    with op.batch_alter_table('company_phones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_company_phones_phone'))
        batch_op.drop_index(batch_op.f('ix_company_phones_company_id'))

    op.drop_table('company_phones')
    op.drop_table('call_list_operators')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_companies_tax_id'))
        batch_op.drop_index(batch_op.f('ix_companies_responsible_id'))
        batch_op.drop_index(batch_op.f('ix_companies_name_key'))
        batch_op.drop_index(batch_op.f('ix_companies_email'))

    op.drop_table('companies')
    op.drop_table('call_lists')
    op.drop_table('blocklist')
    op.drop_table('tracking_numbers')
    op.drop_table('inquiry_subclasses')
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_employees_mobile'))
        batch_op.drop_index(batch_op.f('ix_employees_email'))
        batch_op.drop_index(batch_op.f('ix_employees_department_id'))

    op.drop_table('employees')
    op.drop_table('deal_stage_task_rules')
    op.drop_table('sources')
    op.drop_table('settings')
    op.drop_table('kb_articles')
    op.drop_table('inquiry_classes')
    op.drop_table('departments')
    op.drop_table('deal_stages')
    op.drop_table('call_scripts')
