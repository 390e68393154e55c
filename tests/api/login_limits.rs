//! Login limits that cannot be turned against a user: failures counted per (e-mail,
//! client address), a ceiling per address, and `X-Forwarded-For` believed only from a
//! trusted proxy (here the tests' own 127.0.0.1).

use serde_json::json;

use crate::helpers::{Options, PASSWORD, Response, TestApp};

/// An app behind a "proxy" at 127.0.0.1, with `adjust` on top.
async fn behind_proxy(adjust: fn(&mut passnum::config::Settings)) -> TestApp {
    TestApp::spawn_with(Options {
        adjust: Some(Box::new(move |s| {
            s.trusted_proxies =
                passnum::client_addr::TrustedProxies::parse(&["127.0.0.1"]).unwrap();
            adjust(s);
        })),
        ..Options::default()
    })
    .await
}

async fn login_from(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> Response {
    app.raw(
        app.client
            .post(format!("{}/api/v1/auth/login", app.address))
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

#[tokio::test]
async fn a_locked_pair_does_not_lock_the_same_email_from_another_address() {
    let app = behind_proxy(|_| {}).await;
    let victim = app.member_of_new("site", "agent").await;
    let attacker = "203.0.113.66";
    for _ in 1..=5 {
        login_from(&app, attacker, &victim.email, "wrong-password-here")
            .await
            .problem(401, "invalid_credentials");
    }
    // The attacker's pair is locked, even with the right password…
    login_from(&app, attacker, &victim.email, PASSWORD)
        .await
        .problem(429, "too_many_attempts");
    // …but the user, from their own address, logs in.
    login_from(&app, "198.51.100.10", &victim.email, PASSWORD)
        .await
        .ok(200);
    // The e-mail's case and spaces do not make a new pair.
    login_from(
        &app,
        attacker,
        &format!(" {} ", victim.email.to_uppercase()),
        PASSWORD,
    )
    .await
    .problem(429, "too_many_attempts");
}

#[tokio::test]
async fn one_address_trying_many_emails_hits_its_ceiling_and_others_do_not() {
    let app = behind_proxy(|s| s.login_max_failures_per_ip = 8).await;
    let user = app.member_of_new("site", "agent").await;
    let attacker = "203.0.113.77";
    for n in 0..8 {
        login_from(
            &app,
            attacker,
            &format!("nobody-{n}@example.org"),
            "whatever-password",
        )
        .await
        .problem(401, "invalid_credentials");
    }
    // The address is braked whatever the account, right password included…
    let blocked = login_from(&app, attacker, &user.email, PASSWORD).await;
    let body = blocked.problem(429, "too_many_attempts");
    assert!(body["retry_after_seconds"].as_u64().unwrap() > 0);
    login_from(
        &app,
        attacker,
        "nobody-new@example.org",
        "whatever-password",
    )
    .await
    .problem(429, "too_many_attempts");
    // …another address is not.
    login_from(&app, "198.51.100.20", &user.email, PASSWORD)
        .await
        .ok(200);
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    // No trusted proxy: the header is the client's own claim.
    let app = TestApp::spawn().await;
    let user = app.member_of_new("site", "agent").await;
    for n in 0..5 {
        login_from(
            &app,
            &format!("198.51.100.{n}"),
            &user.email,
            "wrong-password-here",
        )
        .await
        .problem(401, "invalid_credentials");
    }
    // A new header value does not make a new address: still the same pair.
    login_from(&app, "192.0.2.200", &user.email, PASSWORD)
        .await
        .problem(429, "too_many_attempts");
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_takes_the_right_most_untrusted_address() {
    let app = behind_proxy(|_| {}).await;
    let user = app.member_of_new("site", "agent").await;
    // The client pretends to be many addresses in the left part; the proxy appended
    // the real one (203.0.113.9), which is what counts.
    for n in 0..5 {
        login_from(
            &app,
            &format!("10.0.0.{n}, 203.0.113.9"),
            &user.email,
            "wrong-password-here",
        )
        .await
        .problem(401, "invalid_credentials");
    }
    login_from(&app, "10.9.9.9, 203.0.113.9", &user.email, PASSWORD)
        .await
        .problem(429, "too_many_attempts");
    login_from(&app, "203.0.113.10", &user.email, PASSWORD)
        .await
        .ok(200);
}

/// The scan brakes use the same client address.
#[tokio::test]
async fn scan_brakes_count_per_client_address_behind_a_trusted_proxy() {
    let app = behind_proxy(|s| {
        s.scan_max_failures_per_ip = 3;
        s.scan_max_failures_per_user = 100;
    })
    .await;
    let agent = app.labelled_site_agent(json!({})).await;
    let verify = |from: &'static str| {
        app.raw(
            app.client
                .post(format!("{}/api/v1/tickets/verify", app.address))
                .bearer_auth(&agent.token)
                .header("X-Forwarded-For", from)
                .json(&json!({"code": "PN1X-NOT-A-REAL-CODE"})),
        )
    };
    for _ in 0..3 {
        verify("203.0.113.5").await.problem(422, "invalid_code");
    }
    verify("203.0.113.5")
        .await
        .problem(429, "too_many_attempts");
    verify("198.51.100.5").await.problem(422, "invalid_code");
}
