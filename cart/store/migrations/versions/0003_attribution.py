"""attribution: measuring runs, seen device records, device time vs measured instant

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 19:30:00

``measurement.measured_at`` becomes the aware instant the measurement was taken (stored
as naive UTC like every other instant); the device's own naive clock reading moves to
``device_time``. Rows from before this revision keep their device time there and take
their receive time as the instant (the cart's zone was not recorded with them).
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import cart.store.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('measure_run',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('screening_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('devices', sa.JSON(), nullable=False),
    sa.Column('started_at', cart.store.models.UTCDateTime(), nullable=False),
    sa.Column('ended_at', cart.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['screening_id'], ['screening.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('measure_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_measure_run_screening_id'), ['screening_id'], unique=False)

    op.create_table('seen_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('record_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('screening_id', sa.Integer(), nullable=True),
    sa.Column('reading_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('device_time', sa.DateTime(), nullable=True),
    sa.Column('seen_at', cart.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['screening_id'], ['screening.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_key', 'record_key', name='uq_seen_record')
    )

    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active_run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))

    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_time', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('clock_offset_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
    op.execute("UPDATE measurement SET device_time = measured_at, measured_at = received_at")

    with op.batch_alter_table('raw_frame', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('raw_frame', schema=None) as batch_op:
        batch_op.drop_column('run_id')
    op.execute("UPDATE measurement SET measured_at = device_time")
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.drop_column('run_id')
        batch_op.drop_column('clock_offset_s')
        batch_op.drop_column('device_time')
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.drop_column('active_run_id')
    op.drop_table('seen_record')
    with op.batch_alter_table('measure_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_measure_run_screening_id'))
    op.drop_table('measure_run')
