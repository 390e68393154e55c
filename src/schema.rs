// @generated from the migrated database by `UPDATE_GENERATED=1 cargo test generated`; do not edit.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "checkbook_status"))]
    pub struct CheckbookStatus;

    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "program_status"))]
    pub struct ProgramStatus;

    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "redemption_status"))]
    pub struct RedemptionStatus;

    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "statement_kind"))]
    pub struct StatementKind;

    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "ticket_status"))]
    pub struct TicketStatus;
}

diesel::table! {
    allocations (id) {
        id -> Uuid,
        program_id -> Uuid,
        prescriber_id -> Uuid,
        checkbooks -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_entries (seq) {
        seq -> Int8,
        id -> Uuid,
        at -> Timestamptz,
        actor_user_id -> Nullable<Uuid>,
        actor_organization_id -> Nullable<Uuid>,
        actor_label -> Nullable<Text>,
        organization_id -> Nullable<Uuid>,
        entity_kind -> Text,
        entity_id -> Uuid,
        action -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        reason -> Nullable<Text>,
        prev_hash -> Nullable<Bytea>,
        hash -> Bytea,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::CheckbookStatus;

    checkbooks (id) {
        id -> Uuid,
        number -> Text,
        program_id -> Uuid,
        prescriber_id -> Uuid,
        print_run_id -> Nullable<Uuid>,
        issued_by -> Uuid,
        status -> CheckbookStatus,
        beneficiary_reference -> Nullable<Text>,
        beneficiary_email -> Nullable<Text>,
        beneficiary_birth_year -> Nullable<Int4>,
        beneficiary_postcode -> Nullable<Text>,
        beneficiary_situation -> Nullable<Text>,
        valid_until -> Date,
        issued_at -> Timestamptz,
        handed_out_at -> Nullable<Timestamptz>,
        handed_out_by -> Nullable<Uuid>,
        cancelled_at -> Nullable<Timestamptz>,
        cancel_reason -> Nullable<Text>,
        beneficiary_publics -> Array<Nullable<Text>>,
        beneficiary_needs -> Array<Nullable<Text>>,
        beneficiary_erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    evaluations (id) {
        id -> Uuid,
        checkbook_id -> Uuid,
        site_id -> Uuid,
        program_id -> Uuid,
        level_before -> Int2,
        level_after -> Int2,
        themes -> Array<Nullable<Text>>,
        recorded_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, scope, key) {
        user_id -> Uuid,
        scope -> Text,
        key -> Text,
        request_hash -> Text,
        response_status -> Int2,
        response_body -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    job_runs (job, day) {
        job -> Text,
        day -> Date,
        node -> Text,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Jsonb>,
        attempts -> Int4,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    ledger_accounts (id) {
        id -> Uuid,
        code -> Text,
        kind -> Text,
        program_id -> Nullable<Uuid>,
        organization_id -> Nullable<Uuid>,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_postings (transaction_id, id) {
        id -> Int8,
        transaction_id -> Uuid,
        account_id -> Uuid,
        amount -> Numeric,
    }
}

diesel::table! {
    ledger_transactions (id) {
        id -> Uuid,
        kind -> Text,
        description -> Text,
        program_id -> Nullable<Uuid>,
        reverses -> Nullable<Uuid>,
        created_at -> Timestamptz,
        created_txid -> Int8,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        kind -> Text,
        name -> Text,
        email -> Text,
        postcode -> Text,
        city -> Text,
        address -> Nullable<Text>,
        siret -> Nullable<Text>,
        latitude -> Nullable<Float8>,
        longitude -> Nullable<Float8>,
        created_at -> Timestamptz,
        phone -> Nullable<Text>,
        website -> Nullable<Text>,
        opening_hours -> Nullable<Text>,
        accessibility -> Nullable<Text>,
        iban -> Nullable<Text>,
        bic -> Nullable<Text>,
        chorus_service_code -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Uuid,
        message_id -> Nullable<Text>,
        kind -> Text,
        related_id -> Nullable<Uuid>,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        attachment_name -> Nullable<Text>,
        attachment -> Nullable<Bytea>,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_attempt_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    payments (id) {
        id -> Uuid,
        program_id -> Uuid,
        funder_id -> Uuid,
        amount -> Numeric,
        reference -> Text,
        received_on -> Date,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    print_runs (id) {
        id -> Uuid,
        program_id -> Uuid,
        prescriber_id -> Uuid,
        checkbooks -> Int4,
        created_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    program_funders (program_id, funder_id) {
        program_id -> Uuid,
        funder_id -> Uuid,
        share -> Numeric,
        engagement_number -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::ProgramStatus;

    programs (id) {
        id -> Uuid,
        name -> Text,
        ticket_value -> Numeric,
        tickets_per_checkbook -> Int4,
        validity_days -> Nullable<Int4>,
        valid_until -> Nullable<Date>,
        tolerance_days -> Int4,
        commission_rate -> Numeric,
        funder_fee_rate -> Numeric,
        budget -> Numeric,
        territory_postcodes -> Array<Nullable<Text>>,
        status -> ProgramStatus,
        closed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        public_indicators -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::RedemptionStatus;

    redemptions (id) {
        id -> Uuid,
        ticket_id -> Uuid,
        program_id -> Uuid,
        site_id -> Uuid,
        redeemed_by -> Uuid,
        method -> Text,
        value -> Numeric,
        commission -> Numeric,
        amount_payable -> Numeric,
        status -> RedemptionStatus,
        scanned_at -> Timestamptz,
        redeemed_at -> Timestamptz,
        reversed_at -> Nullable<Timestamptz>,
        ledger_transaction_id -> Uuid,
        reversal_transaction_id -> Nullable<Uuid>,
        serial -> Text,
        checkbook_number -> Text,
        turn -> Int2,
        service_id -> Nullable<Uuid>,
        session_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Uuid,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    service_sessions (id) {
        id -> Uuid,
        site_id -> Uuid,
        service_id -> Uuid,
        opened_by -> Uuid,
        opened_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_refreshed_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    settlement_names (settlement_id, named_id) {
        settlement_id -> Uuid,
        named_id -> Uuid,
        name -> Text,
        siret -> Nullable<Text>,
        iban -> Nullable<Text>,
        bic -> Nullable<Text>,
    }
}

diesel::table! {
    settlements (id) {
        id -> Uuid,
        period_start -> Date,
        period_end -> Date,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    site_labels (site_id) {
        site_id -> Uuid,
        valid_from -> Date,
        valid_until -> Date,
        suspended_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    site_services (id) {
        id -> Uuid,
        site_id -> Uuid,
        title -> Text,
        theme -> Text,
        format -> Text,
        duration_minutes -> Int4,
        position -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    statement_counters (year) {
        year -> Int4,
        last -> Int4,
    }
}

diesel::table! {
    statement_payments (statement_id) {
        statement_id -> Uuid,
        paid_on -> Date,
        bank_reference -> Text,
        ledger_transaction_id -> Nullable<Uuid>,
        recorded_by -> Nullable<Uuid>,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::StatementKind;

    statements (id) {
        id -> Uuid,
        number -> Text,
        kind -> StatementKind,
        organization_id -> Uuid,
        settlement_id -> Nullable<Uuid>,
        program_id -> Nullable<Uuid>,
        period_start -> Date,
        period_end -> Date,
        lines -> Int4,
        total -> Numeric,
        sha256 -> Nullable<Text>,
        created_at -> Timestamptz,
        content -> Nullable<Text>,
        csv_format -> Int2,
    }
}

diesel::table! {
    stats_book_cells (program_id, dim, key) {
        program_id -> Uuid,
        dim -> Text,
        key -> Text,
        checkbooks_issued -> Int8,
        checkbooks_in_stock -> Int8,
        checkbooks_handed_out -> Int8,
        checkbooks_started -> Int8,
        checkbooks_cancelled -> Int8,
        tickets_issued -> Int8,
        tickets_handed_out -> Int8,
        tickets_in_stock -> Int8,
        tickets_redeemed -> Int8,
        tickets_settled -> Int8,
        tickets_expired -> Int8,
        tickets_cancelled -> Int8,
        tickets_outstanding -> Int8,
        amount_issued -> Numeric,
        amount_handed_out -> Numeric,
        amount_redeemed -> Numeric,
        amount_settled -> Numeric,
        commission -> Numeric,
        amount_expired -> Numeric,
        amount_cancelled -> Numeric,
        amount_outstanding -> Numeric,
    }
}

diesel::table! {
    stats_books (checkbook_id) {
        checkbook_id -> Uuid,
        program_id -> Uuid,
        prescriber_id -> Uuid,
        handed_out -> Bool,
        birth_year -> Nullable<Int4>,
        situation -> Nullable<Text>,
        postcode -> Nullable<Text>,
        next_expiry -> Nullable<Date>,
        checkbooks_issued -> Int8,
        checkbooks_in_stock -> Int8,
        checkbooks_handed_out -> Int8,
        checkbooks_started -> Int8,
        checkbooks_cancelled -> Int8,
        tickets_issued -> Int8,
        tickets_handed_out -> Int8,
        tickets_in_stock -> Int8,
        tickets_redeemed -> Int8,
        tickets_settled -> Int8,
        tickets_expired -> Int8,
        tickets_cancelled -> Int8,
        tickets_outstanding -> Int8,
        amount_issued -> Numeric,
        amount_handed_out -> Numeric,
        amount_redeemed -> Numeric,
        amount_settled -> Numeric,
        commission -> Numeric,
        amount_expired -> Numeric,
        amount_cancelled -> Numeric,
        amount_outstanding -> Numeric,
        publics -> Nullable<Array<Nullable<Text>>>,
        autonomy -> Nullable<Text>,
        services -> Nullable<Array<Nullable<Text>>>,
    }
}

diesel::table! {
    stats_site_months (program_id, site_id, month) {
        program_id -> Uuid,
        site_id -> Uuid,
        month -> Text,
        tickets_redeemed -> Int8,
        amount_redeemed -> Numeric,
        commission -> Numeric,
        tickets_settled -> Int8,
        amount_settled -> Numeric,
        reversals -> Int8,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::TicketStatus;

    tickets (id) {
        id -> Uuid,
        checkbook_id -> Uuid,
        program_id -> Uuid,
        position -> Int2,
        serial -> Text,
        value -> Numeric,
        status -> TicketStatus,
        valid_until -> Date,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        organization_id -> Uuid,
        email -> Text,
        password_hash -> Nullable<Text>,
        role -> Text,
        created_at -> Timestamptz,
        active -> Bool,
        last_login_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(allocations -> organizations (prescriber_id));
diesel::joinable!(allocations -> programs (program_id));
diesel::joinable!(audit_entries -> users (actor_user_id));
diesel::joinable!(checkbooks -> organizations (prescriber_id));
diesel::joinable!(checkbooks -> print_runs (print_run_id));
diesel::joinable!(checkbooks -> programs (program_id));
diesel::joinable!(evaluations -> checkbooks (checkbook_id));
diesel::joinable!(evaluations -> organizations (site_id));
diesel::joinable!(evaluations -> programs (program_id));
diesel::joinable!(evaluations -> users (recorded_by));
diesel::joinable!(invitations -> users (user_id));
diesel::joinable!(ledger_accounts -> organizations (organization_id));
diesel::joinable!(ledger_accounts -> programs (program_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(payments -> organizations (funder_id));
diesel::joinable!(payments -> programs (program_id));
diesel::joinable!(print_runs -> organizations (prescriber_id));
diesel::joinable!(print_runs -> programs (program_id));
diesel::joinable!(print_runs -> users (created_by));
diesel::joinable!(program_funders -> organizations (funder_id));
diesel::joinable!(program_funders -> programs (program_id));
diesel::joinable!(redemptions -> ledger_transactions (reversal_transaction_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(service_sessions -> organizations (site_id));
diesel::joinable!(service_sessions -> site_services (service_id));
diesel::joinable!(service_sessions -> users (opened_by));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(settlement_names -> settlements (settlement_id));
diesel::joinable!(settlements -> users (created_by));
diesel::joinable!(site_labels -> organizations (site_id));
diesel::joinable!(site_services -> organizations (site_id));
diesel::joinable!(statement_payments -> ledger_transactions (ledger_transaction_id));
diesel::joinable!(statement_payments -> statements (statement_id));
diesel::joinable!(statement_payments -> users (recorded_by));
diesel::joinable!(statements -> organizations (organization_id));
diesel::joinable!(statements -> programs (program_id));
diesel::joinable!(statements -> settlements (settlement_id));
diesel::joinable!(tickets -> checkbooks (checkbook_id));
diesel::joinable!(tickets -> programs (program_id));
diesel::joinable!(users -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(allocations, audit_entries, checkbooks, evaluations, idempotency_keys, invitations, job_runs, ledger_accounts, ledger_postings, ledger_transactions, organizations, outbox, password_resets, payments, print_runs, program_funders, programs, redemptions, refresh_tokens, service_sessions, sessions, settlement_names, settlements, site_labels, site_services, statement_counters, statement_payments, statements, stats_book_cells, stats_books, stats_site_months, tickets, users,);
