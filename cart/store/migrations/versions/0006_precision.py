"""precision: the digits after the decimal point a device (or the nurse) reported

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:10:00

``measurement.decimals`` keeps the device's precision beside the float value (70.0 kg
has 1, 72.50 kg has 2, 98 mg/dL has 0), so the FHIR valueQuantity can write the number
as the device sent it (HL7 PHD IG, "IEEE 11073 FLOATs and SFLOATs"). Rows stored before
this revision keep NULL: precision unknown, printed as before.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decimals', sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.drop_column('decimals')
