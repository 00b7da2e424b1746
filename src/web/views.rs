//! View models for the askama templates: everything formatted here, so the
//! templates only place text.

use askama::Template;
use time::PrimitiveDateTime;

/// What the page frame needs: who is signed in and the CSRF token.
pub struct Layout {
    pub email: Option<String>,
    pub role: String,
    pub is_admin: bool,
    pub csrf: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
}

impl Layout {
    pub fn anonymous() -> Layout {
        Layout {
            email: None,
            role: String::new(),
            is_admin: false,
            csrf: String::new(),
            nav: "",
        }
    }

    pub fn for_member(current: &super::session::CurrentMember, nav: &'static str) -> Layout {
        Layout::signed_in(&current.member, current.csrf.clone(), nav)
    }

    pub fn signed_in(member: &crate::service::Member, csrf: String, nav: &'static str) -> Layout {
        Layout {
            email: Some(member.email.clone()),
            role: member.role.to_string(),
            is_admin: member.is_admin(),
            csrf,
            nav,
        }
    }
}

pub fn render<T: Template>(template: &T) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "template failed to render");
        "<!doctype html><title>Error</title><p>Something went wrong on our side.</p>".to_owned()
    })
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn format_moment(t: PrimitiveDateTime) -> String {
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago", or a date.
pub fn relative(t: PrimitiveDateTime, now: PrimitiveDateTime) -> String {
    let secs = (now - t).whole_seconds();
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 86_400 => plural(s / 3600, "hour"),
        s if s < 30 * 86_400 => plural(s / 86_400, "day"),
        _ => format!("on {}", t.date()),
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "pages/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// "Sign in with …", when single sign-on is set up.
    pub sso_label: Option<String>,
    pub passwords_off: bool,
}

#[derive(Template)]
#[template(path = "pages/login_2fa.html")]
pub struct SecondFactorPage {
    pub layout: Layout,
    pub error: Option<String>,
}

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    /// Never authorizes; shown with a badge.
    pub canary: bool,
    /// Revoked within a week for being unused (policy).
    pub inactive_soon: bool,
    pub hint: String,
    pub owner_email: String,
    pub show_owner: bool,
    /// Shown as the first scope and "+N": the rest on hover and focus.
    pub scopes: Vec<String>,
    /// "Created Wed 30 Dec 2026, 00:00 UTC (3 days ago)", on hover.
    pub created: String,
    /// "Wed 30 Dec 2026 (in 30 days)", or "Never".
    pub expires: String,
    /// The whole sentence: "Expires Wed 30 Dec 2026, 00:00 UTC (in 30 days)".
    pub expires_exact: String,
    /// RFC 3339, for the script that adds local time; empty for never.
    pub expires_machine: String,
    pub expires_soon: bool,
    pub last_used: String,
    /// "from 203.0.113.5", when known.
    pub last_used_from: String,
    /// The allow-list, comma-separated; empty when any address may use it.
    pub allowed_ips: String,
    /// The status class: active, expired, revoked, rotated, disabled.
    pub status: &'static str,
    pub status_label: &'static str,
    pub active: bool,
    /// Offered only to the owner, on a token not replaced already.
    pub rotatable: bool,
    /// "Revoked Mon 30 Nov 2026 by a@x.io — bulk revoke", "Replaced; stops
    /// in 52 minutes".
    pub status_note: Option<String>,
}

impl TokenRow {
    /// Every scope but the first, comma-separated.
    pub fn more_scopes(&self) -> String {
        self.scopes
            .iter()
            .skip(1)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub struct PageLink {
    pub label: String,
    pub href: String,
    pub current: bool,
}

pub struct TokenList {
    pub rows: Vec<TokenRow>,
    pub status: &'static str,
    pub owner: &'static str,
    pub q: String,
    /// `q` for a query string.
    pub q_encoded: String,
    pub total: i64,
    pub pages: i64,
    pub first_shown: i64,
    pub last_shown: i64,
    pub page_links: Vec<PageLink>,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub is_admin: bool,
    pub show_owner: bool,
    pub notice: Option<String>,
    pub csrf: String,
    pub filtered: bool,
    /// For an admin looking at their own tokens: how many active tokens
    /// the organisation has.
    pub org_total: Option<i64>,
    /// "Select at least one token" beside the bulk bar, without script.
    pub bulk_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/tokens.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub list: TokenList,
    /// Tokens about to expire, announced after sign-in.
    pub banner: Option<String>,
    /// Reuse of a rotated-away token, announced after sign-in.
    pub alert: Option<String>,
}

#[derive(Template)]
#[template(path = "partials/token_list.html")]
pub struct TokenListPartial {
    pub list: TokenList,
}

#[derive(Template)]
#[template(path = "partials/token_row.html")]
pub struct TokenRowPartial {
    pub row: TokenRow,
}

pub struct ScopeOption {
    pub name: String,
    pub description: String,
    pub checked: bool,
}

pub struct ScopeGroupView {
    pub label: String,
    pub scopes: Vec<ScopeOption>,
}

pub struct ExpiryOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct TokenForm {
    /// Where the form posts, and the page it came from.
    pub action: String,
    pub back: String,
    pub back_label: String,
    /// A service account's token: its name.
    pub service_account: Option<String>,
    pub name: String,
    pub expiry_options: Vec<ExpiryOption>,
    pub custom_selected: bool,
    pub expires_on: String,
    pub min_date: String,
    pub max_date: String,
    /// The same two days as people read them ("Tue 1 Dec 2026").
    pub min_day: String,
    pub max_day: String,
    pub groups: Vec<ScopeGroupView>,
    pub nonce: String,
    pub role: String,
    pub name_error: Option<String>,
    pub expires_in_error: Option<String>,
    pub expires_on_error: Option<String>,
    pub scopes_error: Option<String>,
    pub allowed_ips: String,
    pub allowed_ips_error: Option<String>,
    pub description: String,
    pub description_error: Option<String>,
    pub canary: bool,
    pub form_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/new_token.html")]
pub struct NewTokenPage {
    pub layout: Layout,
    pub form: TokenForm,
}

#[derive(Template)]
#[template(path = "partials/token_form.html")]
pub struct TokenFormPartial {
    pub layout: Layout,
    pub form: TokenForm,
}

pub struct Reveal {
    pub token: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// "Expires Wed 30 Dec 2026, 00:00 UTC (in 30 days)".
    pub expires: String,
    /// RFC 3339, for the local time the script adds.
    pub expires_machine: String,
    pub allowed_ips: Vec<String>,
    /// After a rotation: the token replaced and when it stops.
    pub replaces: Option<String>,
    /// A service account's token: its name (the token acts as it).
    pub service_account: Option<String>,
    /// Where "Done" leads.
    pub back: String,
}

#[derive(Template)]
#[template(path = "pages/confirm_rotate.html")]
pub struct ConfirmRotatePage {
    pub layout: Layout,
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub allowed_ips: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/reveal.html")]
pub struct RevealPage {
    pub layout: Layout,
    pub reveal: Reveal,
}

#[derive(Template)]
#[template(path = "partials/reveal.html")]
pub struct RevealPartial {
    pub reveal: Reveal,
}

#[derive(Template)]
#[template(path = "pages/confirm_revoke.html")]
pub struct ConfirmRevokePage {
    pub layout: Layout,
    /// (id, "name …hint").
    pub tokens: Vec<(i64, String)>,
    pub count: usize,
    pub back: String,
    /// Where Cancel leads: the token's page or the list it came from.
    pub cancel_href: String,
    /// Where "Revoke" posts: the one token's route, or the bulk one.
    pub action: String,
    pub single: bool,
}

pub struct MemberRow {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub created: String,
    pub is_self: bool,
    /// Said in the disable dialog: what stops working.
    pub active_tokens: i64,
    pub two_factor: bool,
}

pub struct NewMemberForm {
    pub email: String,
    pub role: String,
    pub email_error: Option<String>,
    pub role_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/confirm_disable.html")]
pub struct ConfirmDisablePage {
    pub layout: Layout,
    pub id: i64,
    pub email: String,
    /// Their active tokens, which stop.
    pub tokens: i64,
}

#[derive(Template)]
#[template(path = "pages/members.html")]
pub struct MembersPage {
    pub layout: Layout,
    pub members: Vec<MemberRow>,
    pub form: NewMemberForm,
    pub added: Option<(String, String)>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub struct PolicyForm {
    /// Empty: the same maximum as everyone's.
    pub service_max_lifetime_days: String,
    pub service_max_error: Option<String>,
    pub max_lifetime_days: String,
    pub allow_no_expiry: bool,
    pub default_expiry_days: u32,
    pub max_error: Option<String>,
    pub default_error: Option<String>,
    pub require_two_factor: bool,
    pub two_factor_error: Option<String>,
    /// Offered only while single sign-on is set up.
    pub sso_configured: bool,
    pub sso_only: bool,
    pub sso_only_error: Option<String>,
    /// Empty: unused tokens are kept.
    pub inactive_after_days: String,
    pub inactive_error: Option<String>,
    pub lifetime_applies_to_existing: bool,
}

#[derive(Template)]
#[template(path = "pages/policy.html")]
pub struct PolicyPage {
    pub layout: Layout,
    pub form: PolicyForm,
    pub presets: Vec<u32>,
    pub saved: bool,
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub ip: String,
    /// (id, "name …hint") of the token the event is about.
    pub token: Option<(i64, String)>,
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub rows: Vec<AuditRow>,
    pub actions: Vec<(&'static str, bool)>,
    pub members: Vec<(i64, String, bool)>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    /// The current filters, for the export links.
    pub export_query: String,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn relative_times() {
        let now = datetime!(2026-03-10 12:00:00);
        assert_eq!(relative(datetime!(2026-03-10 11:59:30), now), "just now");
        assert_eq!(
            relative(datetime!(2026-03-10 11:55:00), now),
            "5 minutes ago"
        );
        assert_eq!(relative(datetime!(2026-03-10 11:00:00), now), "1 hour ago");
        assert_eq!(relative(datetime!(2026-03-08 12:00:00), now), "2 days ago");
        assert_eq!(
            relative(datetime!(2025-01-01 00:00:00), now),
            "on 2025-01-01"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(encode_query("a b&c=é"), "a%20b%26c%3D%C3%A9");
    }
}
