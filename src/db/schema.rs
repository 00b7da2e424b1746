//! Written by hand: one schema whose types both backends map.

diesel::table! {
    organisations (id) {
        id -> BigInt,
        name -> Text,
        max_lifetime_days -> BigInt,
        allow_no_expiry -> Bool,
        default_expiry_days -> BigInt,
        max_active_tokens -> BigInt,
        created_at -> Timestamp,
        scope_min_roles -> Text,
        service_max_lifetime_days -> Nullable<BigInt>,
        require_two_factor -> Bool,
        sso_only -> Bool,
        tokens_valid_after -> Nullable<Timestamp>,
        inactive_after_days -> Nullable<BigInt>,
        lifetime_applies_to_existing -> Bool,
    }
}

diesel::table! {
    scopes (name) {
        name -> Text,
        description -> Text,
        group_name -> Text,
        min_role -> Text,
        system -> Bool,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    members (id) {
        id -> BigInt,
        org_id -> BigInt,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        kind -> Text,
        password_must_change -> Bool,
        totp_secret -> Nullable<Text>,
        totp_pending -> Nullable<Text>,
        totp_last_step -> Nullable<BigInt>,
        tokens_valid_after -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        org_id -> BigInt,
        owner_id -> BigInt,
        name -> Text,
        token_hash -> Binary,
        hint -> Text,
        scopes -> Text,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by -> Nullable<BigInt>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<BigInt>,
        rotated_from -> Nullable<BigInt>,
        replaced_by -> Nullable<BigInt>,
        allowed_ips -> Text,
        chain_id -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        name_folded -> Text,
        description -> Nullable<Text>,
        canary -> Bool,
        suspended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    token_usage (token_id, day) {
        token_id -> BigInt,
        day -> Date,
        requests -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        org_id -> BigInt,
        actor_id -> Nullable<BigInt>,
        action -> Text,
        token_id -> Nullable<BigInt>,
        member_id -> Nullable<BigInt>,
        ip -> Nullable<Text>,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> BigInt,
        email -> Text,
        ip -> Nullable<Text>,
        succeeded -> Bool,
        created_at -> Timestamp,
        ip_prefix -> Text,
    }
}

diesel::table! {
    form_nonces (nonce) {
        nonce -> Text,
        member_id -> BigInt,
        token_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        org_id -> BigInt,
        dedupe_key -> Text,
        event_type -> Text,
        token_id -> Nullable<BigInt>,
        payload -> Text,
        created_at -> Timestamp,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Binary,
        member_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ip -> Nullable<Text>,
        user_agent -> Text,
        announce -> Bool,
        flash -> Nullable<Text>,
    }
}

diesel::table! {
    rate_limits (bucket) {
        bucket -> Text,
        window_start -> Timestamp,
        hits -> BigInt,
    }
}

diesel::table! {
    revocation_events (id) {
        id -> BigInt,
        token_hash -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> BigInt,
        member_id -> BigInt,
        code_hash -> Binary,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(members -> organisations (org_id));
diesel::joinable!(recovery_codes -> members (member_id));
diesel::joinable!(sessions -> members (member_id));
diesel::joinable!(api_tokens -> organisations (org_id));
diesel::joinable!(api_tokens -> members (owner_id));
diesel::joinable!(audit_events -> organisations (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    members,
    api_tokens,
    audit_events,
    settings,
    login_attempts,
    form_nonces,
    webhook_events,
    token_usage,
    sessions,
    rate_limits,
    scopes,
    revocation_events,
    recovery_codes,
);
