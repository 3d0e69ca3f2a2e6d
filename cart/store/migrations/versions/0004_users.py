"""users: people who sign in, their API tokens, and who opened, measured and completed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 02:45:00

The new columns are nullable: rows from before this revision were made by no known user.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import cart.store.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cart_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('pin_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('licence', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', cart.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cart_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_user_username'), ['username'], unique=True)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', cart.store.models.UTCDateTime(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['cart_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_token_sha256'), ['token_sha256'], unique=True)
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opened_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('completed_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_screening_opened_by', 'cart_user', ['opened_by'], ['id'])
        batch_op.create_foreign_key('fk_screening_completed_by', 'cart_user', ['completed_by'], ['id'])

    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_measurement_recorded_by', 'cart_user', ['recorded_by'], ['id'])

    with op.batch_alter_table('measure_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_measure_run_started_by', 'cart_user', ['started_by'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('measure_run', schema=None) as batch_op:
        batch_op.drop_constraint('fk_measure_run_started_by', type_='foreignkey')
        batch_op.drop_column('started_by')
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.drop_constraint('fk_measurement_recorded_by', type_='foreignkey')
        batch_op.drop_column('recorded_by')
    with op.batch_alter_table('screening', schema=None) as batch_op:
        batch_op.drop_constraint('fk_screening_completed_by', type_='foreignkey')
        batch_op.drop_constraint('fk_screening_opened_by', type_='foreignkey')
        batch_op.drop_column('completed_by')
        batch_op.drop_column('opened_by')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))
        batch_op.drop_index(batch_op.f('ix_api_token_token_sha256'))
    op.drop_table('api_token')
    with op.batch_alter_table('cart_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_user_username'))
    op.drop_table('cart_user')
