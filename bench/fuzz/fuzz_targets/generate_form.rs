#![no_main]
//! The generate form's body, decoded and parsed as the console does: the
//! form decoder, token names, expiry choices and scope names.

use latchkey::domain::{ExpiryPolicy, Scope, TokenName};
use latchkey::web::forms::FormData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = FormData::parse(data) else { return };
    if let Ok(name) = TokenName::parse(form.text("name")) {
        let n = name.as_str();
        assert!(!n.is_empty() && n.chars().count() <= 100);
        assert!(!n.chars().any(char::is_control));
    }
    let today = time::Date::from_calendar_date(2026, time::Month::March, 10).expect("date");
    let policy = ExpiryPolicy::default();
    if let Ok(latchkey::domain::Expiry::On(date)) =
        policy.from_form(today, form.text("expires_in"), form.text("expires_on"))
    {
        assert!(date > today && date <= policy.latest(today));
    }
    for scope in form.all("scopes") {
        let _ = scope.parse::<Scope>();
    }
});
