"""elder mode

Revision ID: b70e9055d1c3
Revises: 194ad36f40ba
Create Date: 2026-11-24 06:01:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b70e9055d1c3'
down_revision = '194ad36f40ba'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows keep today's behaviour: not elder, no longer limits.
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('elder', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))

    with op.batch_alter_table('competitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('elder_time_limit_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('elder_question_time_s', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            'elder_time_limit', 'elder_time_limit_s IS NULL OR elder_time_limit_s >= time_limit_s')
        batch_op.create_check_constraint(
            'elder_question_time',
            'elder_question_time_s IS NULL OR (question_time_s IS NOT NULL'
            ' AND elder_question_time_s >= question_time_s)')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('elder_default', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))

    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.alter_column('elder', server_default=None)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('elder_default', server_default=None)


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('elder_default')

    with op.batch_alter_table('competitions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_competitions_elder_question_time'), type_='check')
        batch_op.drop_constraint(op.f('ck_competitions_elder_time_limit'), type_='check')
        batch_op.drop_column('elder_question_time_s')
        batch_op.drop_column('elder_time_limit_s')

    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_column('elder')
