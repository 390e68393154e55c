use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{Options, PASSWORD, TestApp};

#[tokio::test]
async fn login_gives_a_token_that_me_accepts() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("prescriber", "agent").await;
    let me = app.get("/api/v1/me", &agent.token).await;
    let me = me.ok(200);
    assert_eq!(me["email"], agent.email);
    assert_eq!(me["role"], "agent");
    assert_eq!(me["organization"]["kind"], "prescriber");
    assert_eq!(me["organization"]["id"], agent.org_id.to_string());

    let res = app.login(&agent.email.to_uppercase(), PASSWORD).await;
    let body = res.ok(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("site", "agent").await;
    let wrong = app.login(&agent.email, "not-the-password").await;
    let unknown = app.login("nobody@example.org", PASSWORD).await;
    wrong.problem(401, "invalid_credentials");
    unknown.problem(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
}

#[tokio::test]
async fn invited_user_without_password_cannot_log_in() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let org = app.organization("funder", json!({})).await;
    let res = app
        .post(
            &format!(
                "/api/v1/organizations/{}/users",
                org["id"].as_str().unwrap()
            ),
            &operator.token,
            json!({"email": "invited@example.org", "role": "admin"}),
        )
        .await;
    assert_eq!(res.ok(201)["status"], "invited");
    app.login("invited@example.org", "")
        .await
        .problem(401, "invalid_credentials");
    app.login("invited@example.org", "anything-at-all")
        .await
        .problem(401, "invalid_credentials");
}

/// The session id an access token carries.
pub fn session_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

fn token_with(secret: &[u8], claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_tampered_and_expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let now = chrono::Utc::now().timestamp();
    let sid = session_of(&operator.token);
    let claims = json!({
        "sub": operator.user_id, "org": operator.org_id, "kind": "operator", "role": "admin",
        "sid": sid, "iat": now, "exp": now + 600,
    });
    let secret = b"test-token-secret-test-token-secret-0123";
    // The harness's secret signs a token the server accepts: the cases below differ by one thing.
    app.get("/api/v1/me", &token_with(secret, claims.clone()))
        .await
        .ok(200);

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let genuine = token_with(
        secret,
        json!({"sub": operator.user_id, "org": operator.org_id, "kind": "site", "role": "agent", "sid": sid, "iat": now, "exp": now + 600}),
    );
    let parts: Vec<&str> = genuine.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let mut without_session = claims.clone();
    without_session.as_object_mut().unwrap().remove("sid");
    let mut expired_claims = claims.clone();
    expired_claims["iat"] = json!(now - 3600);
    expired_claims["exp"] = json!(now - 1800);

    let cases = [
        ("alg none", unsigned),
        ("tampered payload", tampered),
        (
            "wrong key",
            token_with(b"some-other-secret-some-other-secret", claims.clone()),
        ),
        ("expired", token_with(secret, expired_claims)),
        ("no session", token_with(secret, without_session)),
        ("garbage", "not.a.token".to_string()),
    ];
    for (case, token) in cases {
        let res = app.get("/api/v1/me", &token).await;
        assert_eq!(res.status.as_u16(), 401, "{case}: {}", res.text);
        res.problem(401, "unauthenticated");
    }
    let no_header = app
        .request(reqwest::Method::GET, "/api/v1/me", None, None)
        .await;
    no_header.problem(401, "unauthenticated");
    let basic = app
        .raw(
            app.client
                .get(format!("{}/api/v1/me", app.address))
                .header("authorization", "Basic abc"),
        )
        .await;
    basic.problem(401, "unauthenticated");
}

#[tokio::test]
async fn login_failures_are_limited_per_email() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("site", "agent").await;
    for attempt in 1..=5 {
        let res = app.login(&agent.email, "wrong-password-here").await;
        assert_eq!(res.status.as_u16(), 401, "attempt {attempt}");
    }
    // Blocked now, even with the right password: guessing gains nothing.
    let blocked = app.login(&agent.email, PASSWORD).await;
    let body = blocked.problem(429, "too_many_attempts");
    assert!(body["retry_after_seconds"].as_u64().unwrap() > 0);
    assert!(blocked.headers.get("retry-after").is_some());
    // Another account from the same address is not blocked by this e-mail's failures.
    let other = app.member_of_new("site", "agent").await;
    app.login(&other.email, PASSWORD).await.ok(200);
}

#[tokio::test]
async fn login_failures_are_limited_per_address() {
    let app = TestApp::spawn_with(Options {
        adjust: Some(Box::new(|s| s.login_max_failures_per_ip = 4)),
        ..Options::default()
    })
    .await;
    let agent = app.member_of_new("site", "agent").await;
    for n in 0..4 {
        app.login(&format!("unknown-{n}@example.org"), "whatever-password")
            .await
            .problem(401, "invalid_credentials");
    }
    app.login(&agent.email, PASSWORD)
        .await
        .problem(429, "too_many_attempts");
}

#[tokio::test]
async fn a_successful_login_clears_the_email_failures() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("site", "agent").await;
    for _ in 0..4 {
        app.login(&agent.email, "wrong-password-here")
            .await
            .problem(401, "invalid_credentials");
    }
    app.login(&agent.email, PASSWORD).await.ok(200);
    for _ in 0..4 {
        app.login(&agent.email, "wrong-password-here")
            .await
            .problem(401, "invalid_credentials");
    }
    app.login(&agent.email, PASSWORD).await.ok(200);
}

#[tokio::test]
async fn guesses_sent_in_parallel_are_braked_too() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("site", "agent").await;
    let guesses: Vec<_> = (0..25)
        .map(|i| {
            app.login(
                &agent.email,
                if i == 0 {
                    "x-wrong-password-0"
                } else {
                    "x-wrong-password-1"
                },
            )
        })
        .collect();
    let answers = futures_util::future::join_all(guesses).await;
    let unauthorized = answers.iter().filter(|r| r.status.as_u16() == 401).count();
    let braked = answers.iter().filter(|r| r.status.as_u16() == 429).count();
    assert_eq!(unauthorized, 5, "only five guesses were judged");
    assert_eq!(braked, 20);
}
