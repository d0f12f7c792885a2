"""The seeded deal stages in Russian: "Proposal sent" becomes «КП отправлено» and so on. A
stage someone has renamed already is left as it is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# English (0001's seed) -> Russian (pbx_daemon.crm.models.DEAL_STAGES).
NAMES = (("New", "Новая"), ("Qualification", "Квалификация"), ("Proposal sent", "КП отправлено"),
         ("Negotiation", "Переговоры"), ("Won", "Успешно закрыта"), ("Lost", "Проиграна"))


def _rename(pairs) -> None:
    stages = sa.table("deal_stages", sa.column("name"))
    bind = op.get_bind()
    for old, new in pairs:
        taken = bind.execute(sa.select(stages.c.name).where(stages.c.name == new)).first()
        if taken is None:
            op.execute(stages.update().where(stages.c.name == old).values(name=new))


def upgrade() -> None:
    _rename(NAMES)


def downgrade() -> None:
    _rename((new, old) for old, new in NAMES)
