// @generated from the migrated database by `UPDATE_GENERATED=1 cargo test generated`; do not edit.

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
    users (id) {
        id -> Uuid,
        organization_id -> Uuid,
        email -> Text,
        password_hash -> Nullable<Text>,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(site_labels -> organizations (site_id));
diesel::joinable!(users -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(organizations, site_labels, users,);
