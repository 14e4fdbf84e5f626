"""licensing: applications, history, documents, inspections, findings, plans, licences, pen tests,
assessments, the alert list and the consultative panel

Revision ID: 0002_licensing
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import harbour.core.db

revision = "0002_licensing"
down_revision = "0001_core"
branch_labels = ("licensing",)
depends_on = None


def upgrade() -> None:
    op.create_table('lic_alert_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('website', sa.String(length=300), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('added_on', sa.Date(), nullable=False),
    sa.Column('added_by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_alert_list'))
    )
    op.create_table('lic_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('brand', sa.String(length=120), nullable=False),
    sa.Column('website', sa.String(length=300), nullable=False),
    sa.Column('responsible_officers', sa.JSON(), nullable=False),
    sa.Column('business_plan', sa.Text(), nullable=False),
    sa.Column('licences_applied', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=40), nullable=False),
    sa.Column('deemed', sa.Boolean(), nullable=False),
    sa.Column('target_decision_date', sa.Date(), nullable=True),
    sa.Column('submitted_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state_since', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_lic_applications_platform_id_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_applications'))
    )
    op.create_index(op.f('ix_lic_applications_platform_id'), 'lic_applications', ['platform_id'], unique=False)
    op.create_index(op.f('ix_lic_applications_state'), 'lic_applications', ['state'], unique=False)
    op.create_table('lic_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('assessor_user_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('engaged_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.Column('opinion', sa.String(length=20), nullable=False),
    sa.Column('filed_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('comments', sa.Text(), nullable=False),
    sa.Column('decided_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_assessments_application_id_lic_applications')),
    sa.ForeignKeyConstraint(['assessor_user_id'], ['users.id'], name=op.f('fk_lic_assessments_assessor_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_assessments'))
    )
    op.create_index(op.f('ix_lic_assessments_application_id'), 'lic_assessments', ['application_id'], unique=False)
    op.create_table('lic_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=True),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('stored_name', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=80), nullable=False),
    sa.Column('uploaded_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_documents_application_id_lic_applications')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_lic_documents_platform_id_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_documents'))
    )
    op.create_index(op.f('ix_lic_documents_platform_id'), 'lic_documents', ['platform_id'], unique=False)
    op.create_table('lic_inspections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('inspectors', sa.JSON(), nullable=False),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=80), nullable=False),
    sa.Column('recorded_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_inspections_application_id_lic_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_inspections'))
    )
    op.create_index(op.f('ix_lic_inspections_application_id'), 'lic_inspections', ['application_id'], unique=False)
    op.create_table('lic_licences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('granted_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('restrictions_lifted_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_licences_application_id_lic_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_licences')),
    sa.UniqueConstraint('application_id', name=op.f('uq_lic_licences_application_id')),
    sa.UniqueConstraint('number', name=op.f('uq_lic_licences_number'))
    )
    op.create_table('lic_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('comments', sa.Text(), nullable=False),
    sa.Column('submitted_by', sa.String(length=80), nullable=False),
    sa.Column('submitted_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_plans_application_id_lic_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_plans'))
    )
    op.create_index(op.f('ix_lic_plans_application_id'), 'lic_plans', ['application_id'], unique=False)
    op.create_table('lic_state_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=40), nullable=True),
    sa.Column('to_state', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_state_changes_application_id_lic_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_state_changes'))
    )
    op.create_index(op.f('ix_lic_state_changes_application_id'), 'lic_state_changes', ['application_id'], unique=False)
    op.create_table('lic_conditions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('licence_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['licence_id'], ['lic_licences.id'], name=op.f('fk_lic_conditions_licence_id_lic_licences')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_conditions'))
    )
    op.create_index(op.f('ix_lic_conditions_licence_id'), 'lic_conditions', ['licence_id'], unique=False)
    op.create_table('lic_consultations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('paper_document_id', sa.Integer(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('opened_by', sa.String(length=80), nullable=False),
    sa.Column('opened_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['paper_document_id'], ['lic_documents.id'], name=op.f('fk_lic_consultations_paper_document_id_lic_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_consultations'))
    )
    op.create_table('lic_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('area', sa.String(length=60), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('closure_evidence', sa.Text(), nullable=False),
    sa.Column('closure_document_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_findings_application_id_lic_applications')),
    sa.ForeignKeyConstraint(['closure_document_id'], ['lic_documents.id'], name=op.f('fk_lic_findings_closure_document_id_lic_documents')),
    sa.ForeignKeyConstraint(['inspection_id'], ['lic_inspections.id'], name=op.f('fk_lic_findings_inspection_id_lic_inspections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_findings'))
    )
    op.create_index(op.f('ix_lic_findings_application_id'), 'lic_findings', ['application_id'], unique=False)
    op.create_table('lic_pen_tests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('firm', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('filed_by', sa.String(length=80), nullable=False),
    sa.Column('filed_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_by', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['lic_applications.id'], name=op.f('fk_lic_pen_tests_application_id_lic_applications')),
    sa.ForeignKeyConstraint(['document_id'], ['lic_documents.id'], name=op.f('fk_lic_pen_tests_document_id_lic_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_pen_tests'))
    )
    op.create_index(op.f('ix_lic_pen_tests_application_id'), 'lic_pen_tests', ['application_id'], unique=False)
    op.create_table('lic_restrictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('licence_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('lifted_at', harbour.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['licence_id'], ['lic_licences.id'], name=op.f('fk_lic_restrictions_licence_id_lic_licences')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_restrictions'))
    )
    op.create_index(op.f('ix_lic_restrictions_licence_id'), 'lic_restrictions', ['licence_id'], unique=False)
    op.create_table('lic_consultation_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('filed_by', sa.String(length=80), nullable=False),
    sa.Column('filed_at', harbour.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['lic_consultations.id'], name=op.f('fk_lic_consultation_responses_consultation_id_lic_consultations')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_lic_consultation_responses_platform_id_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_consultation_responses'))
    )
    op.create_index(op.f('ix_lic_consultation_responses_consultation_id'), 'lic_consultation_responses', ['consultation_id'], unique=False)
    op.create_index(op.f('ix_lic_consultation_responses_platform_id'), 'lic_consultation_responses', ['platform_id'], unique=False)
    op.create_table('lic_plan_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=120), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['lic_findings.id'], name=op.f('fk_lic_plan_items_finding_id_lic_findings')),
    sa.ForeignKeyConstraint(['plan_id'], ['lic_plans.id'], name=op.f('fk_lic_plan_items_plan_id_lic_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lic_plan_items'))
    )
    op.create_index(op.f('ix_lic_plan_items_plan_id'), 'lic_plan_items', ['plan_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_lic_plan_items_plan_id'), table_name='lic_plan_items')
    op.drop_table('lic_plan_items')
    op.drop_index(op.f('ix_lic_consultation_responses_platform_id'), table_name='lic_consultation_responses')
    op.drop_index(op.f('ix_lic_consultation_responses_consultation_id'), table_name='lic_consultation_responses')
    op.drop_table('lic_consultation_responses')
    op.drop_index(op.f('ix_lic_restrictions_licence_id'), table_name='lic_restrictions')
    op.drop_table('lic_restrictions')
    op.drop_index(op.f('ix_lic_pen_tests_application_id'), table_name='lic_pen_tests')
    op.drop_table('lic_pen_tests')
    op.drop_index(op.f('ix_lic_findings_application_id'), table_name='lic_findings')
    op.drop_table('lic_findings')
    op.drop_table('lic_consultations')
    op.drop_index(op.f('ix_lic_conditions_licence_id'), table_name='lic_conditions')
    op.drop_table('lic_conditions')
    op.drop_index(op.f('ix_lic_state_changes_application_id'), table_name='lic_state_changes')
    op.drop_table('lic_state_changes')
    op.drop_index(op.f('ix_lic_plans_application_id'), table_name='lic_plans')
    op.drop_table('lic_plans')
    op.drop_table('lic_licences')
    op.drop_index(op.f('ix_lic_inspections_application_id'), table_name='lic_inspections')
    op.drop_table('lic_inspections')
    op.drop_index(op.f('ix_lic_documents_platform_id'), table_name='lic_documents')
    op.drop_table('lic_documents')
    op.drop_index(op.f('ix_lic_assessments_application_id'), table_name='lic_assessments')
    op.drop_table('lic_assessments')
    op.drop_index(op.f('ix_lic_applications_state'), table_name='lic_applications')
    op.drop_index(op.f('ix_lic_applications_platform_id'), table_name='lic_applications')
    op.drop_table('lic_applications')
    op.drop_table('lic_alert_list')
