//! Sessions: refresh tokens that rotate, reuse that ends the session, idle and
//! absolute limits, logout, revocation seen by another node within 5 s, people who
//! leave (deactivation, last admin, who may change whom), passwords changed and reset.

use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Actor, Options, PASSWORD, Response, TestApp};

async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.request(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
    )
    .await
}

async fn logout(app: &TestApp, refresh_token: &str) -> Response {
    app.request(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh_token": refresh_token})),
    )
    .await
}

fn tokens(res: &Response) -> (String, String) {
    let body = res.ok(200);
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn sql(app: &TestApp, statement: &str) {
    let mut conn = app.db.connect().await;
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Polls `GET /me` with `token` until it is refused; returns how long that took.
async fn refused_within(app: &TestApp, token: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let res = app.get("/api/v1/me", token).await;
        if res.status.as_u16() == 401 {
            res.problem(401, "session_revoked");
            return start.elapsed();
        }
        res.ok(200);
        assert!(
            start.elapsed() < limit,
            "the token was still accepted after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn users_path(actor_org: impl std::fmt::Display, user: impl std::fmt::Display) -> String {
    format!("/api/v1/organizations/{actor_org}/users/{user}")
}

#[tokio::test]
async fn a_refresh_token_serves_once_and_a_spent_one_ends_the_whole_session() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("site", "agent").await;

    let first = refresh(&app, &agent.refresh_token).await;
    assert_eq!(first.body["token_type"], "Bearer");
    assert_eq!(first.body["expires_in"], 900);
    let (access1, refresh1) = tokens(&first);
    assert_ne!(refresh1, agent.refresh_token, "the refresh token rotates");
    app.get("/api/v1/me", &access1).await.ok(200);
    let (access2, refresh2) = tokens(&refresh(&app, &refresh1).await);
    app.get("/api/v1/me", &access2).await.ok(200);
    // Another login of the same person is another session.
    let other = app.actor(&agent.email).await;

    // The first refresh token again: somebody holds a copy. The whole session ends.
    let reused = refresh(&app, &agent.refresh_token).await;
    reused.problem(401, "session_revoked");
    assert!(!reused.text.contains(&agent.refresh_token));
    for (which, token) in [
        ("the login's", &agent.token),
        ("refreshed once", &access1),
        ("refreshed twice", &access2),
    ] {
        let res = app.get("/api/v1/me", token).await;
        assert_eq!(res.status.as_u16(), 401, "{which}: {}", res.text);
        res.problem(401, "session_revoked");
    }
    refresh(&app, &refresh2)
        .await
        .problem(401, "session_revoked");
    // The other session goes on.
    app.get("/api/v1/me", &other.token).await.ok(200);
    tokens(&refresh(&app, &other.refresh_token).await);

    refresh(&app, "not-a-refresh-token")
        .await
        .problem(401, "unauthenticated");
    app.request(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"token": "x"})),
    )
    .await
    .problem(422, "validation_failed");
}

#[tokio::test]
async fn two_refreshes_with_one_token_at_once_end_the_session() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("site", "agent").await;
    let (a, b) = tokio::join!(
        refresh(&app, &agent.refresh_token),
        refresh(&app, &agent.refresh_token)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "{} / {}", a.text, b.text);
    let granted = if a.status.as_u16() == 200 { &a } else { &b };
    let (access, refresh_token) = tokens(granted);
    app.get("/api/v1/me", &access)
        .await
        .problem(401, "session_revoked");
    refresh(&app, &refresh_token)
        .await
        .problem(401, "session_revoked");
}

#[tokio::test]
async fn a_session_ends_when_idle_too_long_and_at_its_absolute_limit() {
    let app = TestApp::spawn_with(Options {
        adjust: Some(Box::new(|s| {
            s.session_idle_minutes = 1;
            s.session_max_hours = 1;
        })),
        ..Options::default()
    })
    .await;
    let agent = app.member_of_new("site", "agent").await;
    let user = agent.user_id;
    // Idle for 90 s (more than the minute configured, less than the default 120).
    sql(&app, &format!("UPDATE sessions SET created_at = created_at - interval '90 seconds', last_refreshed_at = last_refreshed_at - interval '90 seconds' WHERE user_id = '{user}'")).await;
    let res = refresh(&app, &agent.refresh_token).await;
    res.problem(401, "session_expired");

    // Idle 30 s only: refreshed, and the access token lives until the idle limit at most.
    let fresh = app.actor(&agent.email).await;
    sql(&app, &format!("UPDATE sessions SET last_refreshed_at = last_refreshed_at - interval '30 seconds' WHERE user_id = '{user}' AND revoked_at IS NULL")).await;
    let res = refresh(&app, &fresh.refresh_token).await;
    assert!(res.ok(200)["expires_in"].as_u64().unwrap() <= 60);
    let (_, refresh1) = tokens(&res);

    // Ten seconds before the absolute limit: refreshed, with a token that ends with it.
    sql(&app, &format!("UPDATE sessions SET created_at = now() - interval '3590 seconds' WHERE user_id = '{user}' AND revoked_at IS NULL")).await;
    let res = refresh(&app, &refresh1).await;
    let lifetime = res.ok(200)["expires_in"].as_u64().unwrap();
    assert!(lifetime <= 10, "expires_in {lifetime}");
    let (_, refresh2) = tokens(&res);
    // Past it: refused, however recently refreshed.
    sql(&app, &format!("UPDATE sessions SET created_at = now() - interval '3601 seconds' WHERE user_id = '{user}' AND revoked_at IS NULL")).await;
    refresh(&app, &refresh2)
        .await
        .problem(401, "session_expired");
}

#[tokio::test]
async fn logout_ends_the_session_and_its_access_tokens() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("prescriber", "agent").await;
    let other = app.actor(&agent.email).await;
    let res = logout(&app, &agent.refresh_token).await;
    assert_eq!(res.status.as_u16(), 204, "{}", res.text);
    app.get("/api/v1/me", &agent.token)
        .await
        .problem(401, "session_revoked");
    refresh(&app, &agent.refresh_token)
        .await
        .problem(401, "session_revoked");
    // Twice, or with a token nobody has: the same answer.
    assert_eq!(
        logout(&app, &agent.refresh_token).await.status.as_u16(),
        204
    );
    assert_eq!(logout(&app, "unknown").await.status.as_u16(), 204);
    // The other session is not touched.
    app.get("/api/v1/me", &other.token).await.ok(200);
}

#[tokio::test]
async fn a_revocation_on_one_node_reaches_another_node_within_5_seconds() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let agent = app.member_of_new("site", "agent").await;
    let second = app.another_node(Options::default()).await;
    // The token works on both nodes.
    second.get("/api/v1/me", &agent.token).await.ok(200);

    // Deactivated through the first node…
    let res = app
        .patch(
            &users_path(agent.org_id, agent.user_id),
            &operator.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.ok(200)["active"], false);
    // …refused by the second within 5 s.
    let took = refused_within(&second, &agent.token, Duration::from_secs(5)).await;
    eprintln!("deactivation seen by the other node after {took:?}");
    second
        .login(&agent.email, PASSWORD)
        .await
        .problem(401, "invalid_credentials");

    // A logout on the second node reaches the first one the same way.
    let other = app.member_of_new("prescriber", "agent").await;
    app.get("/api/v1/me", &other.token).await.ok(200);
    assert_eq!(
        logout(&second, &other.refresh_token).await.status.as_u16(),
        204
    );
    refused_within(&app, &other.token, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_until_reactivated() {
    let app = TestApp::spawn().await;
    let admin = app.member_of_new("prescriber", "admin").await;
    let agent = app.user_in(&admin.org_id.to_string(), "agent").await;
    let path = users_path(admin.org_id, agent.user_id);

    let list = app
        .get(
            &format!("/api/v1/organizations/{}/users", admin.org_id),
            &admin.token,
        )
        .await;
    let listed: Vec<Value> = list.ok(200)["items"].as_array().unwrap().clone();
    let row = listed
        .iter()
        .find(|u| u["id"] == agent.user_id.to_string())
        .unwrap();
    assert_eq!(row["active"], true);
    assert!(row["last_login_at"].as_str().is_some(), "{row}");

    let res = app
        .patch(&path, &admin.token, json!({"active": false}))
        .await;
    let body = res.ok(200);
    assert_eq!(
        (body["active"].clone(), body["status"].clone()),
        (json!(false), json!("deactivated"))
    );
    // Same answer as a wrong password.
    let refused = app.login(&agent.email, PASSWORD).await;
    let wrong = app.login(&agent.email, "not-the-password").await;
    refused.problem(401, "invalid_credentials");
    assert_eq!(refused.body, wrong.body);
    app.get("/api/v1/me", &agent.token)
        .await
        .problem(401, "session_revoked");
    refresh(&app, &agent.refresh_token)
        .await
        .problem(401, "session_revoked");

    let res = app
        .patch(&path, &admin.token, json!({"active": true}))
        .await;
    assert_eq!(res.ok(200)["status"], "active");
    app.login(&agent.email, PASSWORD).await.ok(200);
    // The sessions ended stay ended.
    app.get("/api/v1/me", &agent.token)
        .await
        .problem(401, "session_revoked");

    // Unknown fields and wrong values are refused.
    app.patch(&path, &admin.token, json!({"active": "no"}))
        .await
        .problem(422, "validation_failed");
    app.patch(&path, &admin.token, json!({"role": "owner"}))
        .await
        .problem(422, "validation_failed");
}

#[tokio::test]
async fn an_organisation_always_keeps_one_active_admin() {
    let app = TestApp::spawn().await;
    let first = app.member_of_new("funder", "admin").await;
    let org = first.org_id.to_string();
    let me = users_path(&org, first.user_id);
    app.patch(&me, &first.token, json!({"active": false}))
        .await
        .problem(409, "last_admin");
    app.patch(&me, &first.token, json!({"role": "agent"}))
        .await
        .problem(409, "last_admin");
    // Nothing was written.
    app.get("/api/v1/me", &first.token).await.ok(200);

    let second = app.user_in(&org, "admin").await;
    let res = app.patch(&me, &first.token, json!({"role": "agent"})).await;
    assert_eq!(res.ok(200)["role"], "agent");
    // Demoted: its sessions end (its tokens said admin).
    app.get("/api/v1/me", &first.token)
        .await
        .problem(401, "session_revoked");
    app.patch(
        &users_path(&org, second.user_id),
        &second.token,
        json!({"active": false}),
    )
    .await
    .problem(409, "last_admin");

    // Two admins removing each other at once: one of them stays.
    let third = app.user_in(&org, "admin").await;
    let (path_third, path_second) = (
        users_path(&org, third.user_id),
        users_path(&org, second.user_id),
    );
    let (a, b) = tokio::join!(
        app.patch(&path_third, &second.token, json!({"active": false})),
        app.patch(&path_second, &third.token, json!({"active": false})),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert!(
        statuses == [200, 401] || statuses == [200, 409],
        "{} / {}",
        a.text,
        b.text
    );
    let operator = app.operator().await;
    let list = app
        .get(
            &format!("/api/v1/organizations/{org}/users"),
            &operator.token,
        )
        .await;
    let active_admins = list.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin" && u["active"] == true)
        .count();
    assert_eq!(active_admins, 1);
}

#[tokio::test]
async fn who_may_change_whom() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let op_agent = app.user_in(&operator.org_id.to_string(), "agent").await;
    let admin = app.member_of_new("prescriber", "admin").await;
    let org = admin.org_id.to_string();
    let agent = app.user_in(&org, "agent").await;
    let colleague = app.user_in(&org, "agent").await;
    let stranger = app.member_of_new("prescriber", "admin").await;
    let create = |org: &str, role: &str| {
        (
            format!("/api/v1/organizations/{org}/users"),
            json!({"email": format!("new-{}@example.org", uuid::Uuid::new_v4().simple()), "password": PASSWORD, "role": role}),
        )
    };

    // An organisation's agent changes nobody and creates nobody.
    app.patch(
        &users_path(&org, colleague.user_id),
        &agent.token,
        json!({"active": false}),
    )
    .await
    .problem(403, "forbidden");
    let (path, body) = create(&org, "agent");
    app.post(&path, &agent.token, body)
        .await
        .problem(403, "forbidden");

    // Another organisation's user: not found, whatever the path says.
    app.patch(
        &users_path(&org, colleague.user_id),
        &stranger.token,
        json!({"active": false}),
    )
    .await
    .problem(404, "not_found");
    app.patch(
        &users_path(stranger.org_id, colleague.user_id),
        &stranger.token,
        json!({"active": false}),
    )
    .await
    .problem(404, "not_found");
    app.patch(
        &users_path(&org, stranger.user_id),
        &admin.token,
        json!({"active": false}),
    )
    .await
    .problem(404, "not_found");

    // The operator's agents: users who are not admins, and never to make one.
    for org_id in [org.clone(), operator.org_id.to_string()] {
        let (path, body) = create(&org_id, "admin");
        app.post(&path, &op_agent.token, body)
            .await
            .problem(403, "forbidden");
    }
    let (path, body) = create(&org, "agent");
    app.post(&path, &op_agent.token, body).await.ok(201);
    // …nor invites one again.
    for (role, status) in [("admin", 403), ("agent", 202)] {
        let invited = app
            .post(
                &format!("/api/v1/organizations/{org}/users"),
                &operator.token,
                json!({"email": format!("invited-{role}@example.org"), "role": role}),
            )
            .await;
        let id = invited.ok(201)["id"].as_str().unwrap().to_string();
        let res = app
            .post(
                &format!("{}/invitation", users_path(&org, id)),
                &op_agent.token,
                json!({}),
            )
            .await;
        assert_eq!(res.status.as_u16(), status, "{role}: {}", res.text);
    }
    app.patch(
        &users_path(&org, colleague.user_id),
        &op_agent.token,
        json!({"role": "admin"}),
    )
    .await
    .problem(403, "forbidden");
    app.patch(
        &users_path(&org, admin.user_id),
        &op_agent.token,
        json!({"active": false}),
    )
    .await
    .problem(403, "forbidden");
    let res = app
        .patch(
            &users_path(&org, colleague.user_id),
            &op_agent.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.ok(200)["active"], false);

    // An organisation's admin promotes its own agents; the operator's admins anyone.
    let res = app
        .patch(
            &users_path(&org, agent.user_id),
            &admin.token,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.ok(200)["role"], "admin");
    let res = app
        .patch(
            &users_path(&org, colleague.user_id),
            &operator.token,
            json!({"role": "admin", "active": true}),
        )
        .await;
    let body = res.ok(200);
    assert_eq!(
        (body["role"].clone(), body["active"].clone()),
        (json!("admin"), json!(true))
    );
    let (path, body) = create(&operator.org_id.to_string(), "admin");
    app.post(&path, &operator.token, body).await.ok(201);
}

async fn change_password(app: &TestApp, actor: &Actor, current: &str, new: &str) -> Response {
    app.post(
        "/api/v1/auth/password",
        &actor.token,
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_but_not_this_one() {
    let app = TestApp::spawn().await;
    let here = app.member_of_new("site", "agent").await;
    let elsewhere = app.actor(&here.email).await;
    const NEW: &str = "another-long-password";

    change_password(&app, &here, "not-the-password", NEW)
        .await
        .problem(422, "wrong_password");
    let short = change_password(&app, &here, PASSWORD, "short").await;
    assert_eq!(
        short.problem(422, "validation_failed")["field"],
        "new_password"
    );
    app.get("/api/v1/me", &elsewhere.token).await.ok(200);

    let res = change_password(&app, &here, PASSWORD, NEW).await;
    assert_eq!(res.status.as_u16(), 204, "{}", res.text);
    app.get("/api/v1/me", &here.token).await.ok(200);
    tokens(&refresh(&app, &here.refresh_token).await);
    app.get("/api/v1/me", &elsewhere.token)
        .await
        .problem(401, "session_revoked");
    refresh(&app, &elsewhere.refresh_token)
        .await
        .problem(401, "session_revoked");
    app.login(&here.email, PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    app.login(&here.email, NEW).await.ok(200);
}

/// The text bodies of the password reset mails to `recipient`, oldest first.
async fn reset_mails(app: &TestApp, recipient: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Mail {
        #[diesel(sql_type = diesel::sql_types::Text)]
        body_text: String,
    }
    let mut conn = app.db.connect().await;
    let mails: Vec<Mail> = diesel::sql_query(
        "SELECT body_text FROM outbox WHERE kind = 'password_reset' AND recipient = $1 ORDER BY id",
    )
    .bind::<diesel::sql_types::Text, _>(recipient)
    .load(&mut conn)
    .await
    .unwrap();
    mails.into_iter().map(|m| m.body_text).collect()
}

fn reset_token_of(text: &str) -> String {
    let marker = "http://127.0.0.1:8080/mot-de-passe?token=";
    let start = text.find(marker).expect("the link is in the mail") + marker.len();
    text[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

async fn ask_reset(app: &TestApp, email: &str) -> Response {
    app.request(
        Method::POST,
        "/api/v1/auth/password-reset",
        None,
        Some(json!({"email": email})),
    )
    .await
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> Response {
    app.request(
        Method::POST,
        "/api/v1/auth/password-reset/confirm",
        None,
        Some(json!({"token": token, "password": password})),
    )
    .await
}

#[tokio::test]
async fn a_password_reset_link_serves_once_and_ends_every_session() {
    let app = TestApp::spawn().await;
    let agent = app.member_of_new("prescriber", "agent").await;
    let other = app.actor(&agent.email).await;
    const NEW: &str = "a-brand-new-password";

    // Whatever the address: 202, and no mail for an address without an account.
    let known = ask_reset(&app, &agent.email.to_uppercase()).await;
    let unknown = ask_reset(&app, "nobody@example.org").await;
    assert_eq!(known.status.as_u16(), 202, "{}", known.text);
    assert_eq!(unknown.status.as_u16(), 202, "{}", unknown.text);
    assert_eq!(known.text, unknown.text);
    assert!(reset_mails(&app, "nobody@example.org").await.is_empty());
    let mails = reset_mails(&app, &agent.email).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("expire le"), "{}", mails[0]);
    let token = reset_token_of(&mails[0]);
    assert_eq!(token.len(), 64);
    // Only its hash is stored.
    let mut conn = app.db.connect().await;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let stored: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM password_resets WHERE token_hash = encode(sha256($1::bytea), 'hex')",
    )
    .bind::<diesel::sql_types::Text, _>(&token)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(stored.n, 1);

    let short = confirm_reset(&app, &token, "short").await;
    assert_eq!(short.problem(422, "validation_failed")["field"], "password");
    let res = confirm_reset(&app, &token, NEW).await;
    assert_eq!(res.status.as_u16(), 204, "{}", res.text);
    for actor in [&agent, &other] {
        app.get("/api/v1/me", &actor.token)
            .await
            .problem(401, "session_revoked");
        refresh(&app, &actor.refresh_token)
            .await
            .problem(401, "session_revoked");
    }
    app.login(&agent.email, PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    app.login(&agent.email, NEW).await.ok(200);

    // Single use; unknown links; the token never comes back in an answer.
    let again = confirm_reset(&app, &token, "yet-another-password").await;
    again.problem(410, "reset_used");
    assert!(!again.text.contains(&token));
    let forged = "0".repeat(64);
    confirm_reset(&app, &forged, NEW)
        .await
        .problem(404, "reset_invalid");

    // A newer request makes the older link stop working; a link past its hour expires.
    ask_reset(&app, &agent.email).await.ok(202);
    ask_reset(&app, &agent.email).await.ok(202);
    let mails = reset_mails(&app, &agent.email).await;
    let (older, newer) = (reset_token_of(&mails[1]), reset_token_of(&mails[2]));
    confirm_reset(&app, &older, NEW)
        .await
        .problem(410, "reset_used");
    sql(
        &app,
        "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .await;
    confirm_reset(&app, &newer, NEW)
        .await
        .problem(410, "reset_expired");

    // No token in the metrics either.
    let metrics = app
        .raw(app.client.get(format!("{}/metrics", app.address)))
        .await;
    for secret in [&token, &older, &newer] {
        assert!(!metrics.text.contains(secret.as_str()));
    }
}

#[tokio::test]
async fn a_deactivated_user_gets_no_reset_link_and_requests_are_braked() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let agent = app.member_of_new("site", "agent").await;
    app.patch(
        &users_path(agent.org_id, agent.user_id),
        &operator.token,
        json!({"active": false}),
    )
    .await
    .ok(200);
    ask_reset(&app, &agent.email).await.ok(202);
    assert!(reset_mails(&app, &agent.email).await.is_empty());

    for _ in 0..4 {
        ask_reset(&app, &agent.email).await.ok(202);
    }
    ask_reset(&app, &agent.email)
        .await
        .problem(429, "too_many_attempts");
    ask_reset(&app, "not an address")
        .await
        .problem(422, "validation_failed");
}

/// The password of a login is checked outside its transaction (argon2 takes a while):
/// an account changed meanwhile — its password, its activity, its role — gets no
/// session, since no revocation would ever end it.
#[tokio::test]
async fn a_login_whose_account_changed_while_its_password_was_checked_opens_no_session() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let limits = passnum::sessions::SessionLimits::from_settings(&app.settings);
    let mut conn = app.db.connect().await;

    // The password changes between the check and the session.
    let agent = app.member_of_new("site", "agent").await;
    let (user, org) = passnum::organizations::find_user_by_email(&mut conn, &agent.email)
        .await
        .unwrap()
        .expect("the agent");
    let res = change_password(&app, &agent, PASSWORD, "un nouveau mot de passe assez long").await;
    assert_eq!(res.status.as_u16(), 204, "{}", res.text);
    let opened = passnum::sessions::open(&mut conn, user.clone(), org.clone(), limits)
        .await
        .unwrap();
    assert!(
        opened.is_none(),
        "a session opened for a password that was replaced"
    );

    // The account is deactivated between the check and the session.
    let other = app.member_of_new("prescriber", "agent").await;
    let (user, org) = passnum::organizations::find_user_by_email(&mut conn, &other.email)
        .await
        .unwrap()
        .expect("the agent");
    app.patch(
        &users_path(other.org_id, other.user_id),
        &operator.token,
        json!({"active": false}),
    )
    .await
    .ok(200);
    let opened = passnum::sessions::open(&mut conn, user.clone(), org.clone(), limits)
        .await
        .unwrap();
    assert!(
        opened.is_none(),
        "a session opened for a deactivated account"
    );
    // Reactivated and unchanged: the same check opens a session.
    app.patch(
        &users_path(other.org_id, other.user_id),
        &operator.token,
        json!({"active": true}),
    )
    .await
    .ok(200);
    let opened = passnum::sessions::open(&mut conn, user, org, limits)
        .await
        .unwrap();
    assert!(opened.is_some(), "the unchanged account opens a session");
}

/// A user deactivated before accepting an invitation: the link mailed earlier no longer
/// gives the account a password, neither now nor after a reactivation.
#[tokio::test]
async fn a_deactivated_users_invitation_link_no_longer_works() {
    #[derive(diesel::QueryableByName)]
    struct Mail {
        #[diesel(sql_type = diesel::sql_types::Text)]
        body_text: String,
    }
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let site = app.member_of_new("site", "admin").await;
    let email = format!("invite-{}@example.org", uuid::Uuid::new_v4().simple());
    let created = app
        .post(
            &format!("/api/v1/organizations/{}/users", site.org_id),
            &site.token,
            json!({"email": email, "role": "agent"}),
        )
        .await;
    let user_id = created.ok(201)["id"].as_str().unwrap().to_string();
    let mut conn = app.db.connect().await;
    let mails: Vec<Mail> = diesel::sql_query("SELECT body_text FROM outbox WHERE recipient = $1")
        .bind::<diesel::sql_types::Text, _>(&email)
        .load(&mut conn)
        .await
        .unwrap();
    let text = &mails[0].body_text;
    let start = text.find("token=").expect("a link") + "token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();

    let accept = async || {
        app.request(
            Method::POST,
            "/api/v1/auth/invitations/accept",
            None,
            Some(json!({"token": token, "password": "un mot de passe assez long"})),
        )
        .await
    };
    let path = users_path(site.org_id, &user_id);
    app.patch(&path, &operator.token, json!({"active": false}))
        .await
        .ok(200);
    let refused = accept().await;
    assert!(
        refused.status.is_client_error(),
        "a deactivated user's invitation was accepted: {}",
        refused.text
    );
    app.patch(&path, &operator.token, json!({"active": true}))
        .await
        .ok(200);
    let refused = accept().await;
    assert!(
        refused.status.is_client_error(),
        "an invitation sent before a deactivation works after the reactivation: {}",
        refused.text
    );
    app.login(&email, "un mot de passe assez long")
        .await
        .problem(401, "invalid_credentials");
}
