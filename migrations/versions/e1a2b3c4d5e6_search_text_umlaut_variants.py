"""attendee search text holds umlaut-free variants ("juergen", "jurgen" for "Jürgen")

Revision ID: e1a2b3c4d5e6
Revises: d7e8f9a0b1c2
Create Date: 2026-11-27 21:00:00

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1a2b3c4d5e6'
down_revision = 'd7e8f9a0b1c2'
branch_labels = None
depends_on = None

# Rows read and written per round: a large mirror is recomputed without holding it in memory.
BATCH = 2000

attendees = sa.table(
    "calendly_event_attendees",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("email", sa.String),
    sa.column("search_text", sa.Text),
)


def _with_variants(name, email):
    # The rule of store.models.attendee_search_text when this revision was written: a migration
    # keeps its own copy, so that later changes to the model do not rewrite history.
    text = unicodedata.normalize("NFC", f"{name or ''} {email or ''}").casefold()
    spelled_out = text.translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"}))
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return "\n".join(dict.fromkeys((text, spelled_out, bare)))


def _folded(name, email):
    return f"{name or ''} {email or ''}".casefold()


def _recompute(search_text):
    """Rewrite every attendee's search text with `search_text(name, email)`, in batches."""
    conn = op.get_bind()
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(attendees.c.id, attendees.c.name, attendees.c.email)
            .where(attendees.c.id > last_id)
            .order_by(attendees.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            attendees.update()
            .where(attendees.c.id == sa.bindparam("row_id"))
            .values(search_text=sa.bindparam("text")),
            [{"row_id": row.id, "text": search_text(row.name, row.email)} for row in rows],
        )
        last_id = rows[-1].id


def upgrade():
    _recompute(_with_variants)


def downgrade():
    _recompute(_folded)
