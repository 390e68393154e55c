//! E-mail: the outbox and its worker against a real SMTP server on a loopback port
//! (`smtp::SmtpServer`), and the `.eml` files of development.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use passnum::config::Settings;
use passnum::mail::worker::{Mailer, Outcome};
use passnum::mail::{Attachment, MailKind, NewMail, Rendered};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{Options, PASSWORD, TestApp, TestDatabase};
use crate::smtp::SmtpServer;

const WAIT: Duration = Duration::from_secs(30);

/// An app whose mail worker sends to `smtp` (or, without, writes files in `data_dir`).
async fn app_with(smtp: Option<&SmtpServer>, data_dir: Option<PathBuf>) -> TestApp {
    let url = smtp.map(SmtpServer::url);
    TestApp::spawn_with(Options {
        adjust: Some(Box::new(move |s: &mut Settings| {
            s.mail_worker = true;
            s.smtp_url = url.map(Into::into);
            if let Some(dir) = data_dir {
                s.data_dir = dir;
            }
        })),
        ..Default::default()
    })
    .await
}

fn address(name: &str) -> String {
    format!("{name}-{}@example.org", Uuid::new_v4().simple())
}

/// The outbox as the operator sees it, with a filter such as `&status=sent`.
async fn outbox(app: &TestApp, filter: &str) -> Vec<Value> {
    let operator = app.operator().await;
    app.get(
        &format!("/api/v1/outbox?limit=200{filter}"),
        &operator.token,
    )
    .await
    .ok(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Polls `check` until it answers, for at most `WAIT`.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "still waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The outbox entry of the mail to `recipient`, once it has `status`.
async fn outbox_entry(app: &TestApp, recipient: &str, status: &str) -> Value {
    eventually(&format!("a {status} mail to {recipient}"), async || {
        outbox(app, &format!("&status={status}"))
            .await
            .into_iter()
            .find(|m| m["recipient"] == recipient)
    })
    .await
}

fn bare(message_id: &str) -> &str {
    message_id.trim_matches(['<', '>'])
}

#[tokio::test]
async fn a_checkbook_issued_to_an_address_arrives_with_its_pdf_and_where_to_use_it() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    app.labelled_site_agent(
        json!({"name": "Médiathèque de Vesoul", "latitude": 47.62, "longitude": 6.15}),
    )
    .await;
    let territory = app.funded_territory(1).await;
    let to = address("beneficiaire");
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "CCAS-1", "email": to, "postcode": "70000"})),
        )
        .await
        .ok(201)
        .clone();
    let number = book["number"].as_str().unwrap();

    let mails = smtp.wait_for(&to, 1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.to, to);
    assert!(
        smtp.received()
            .iter()
            .all(|r| r.mail_from == "ne-pas-repondre@pass-numerique.localhost")
    );
    assert_eq!(
        mail.subject,
        format!("Votre chéquier Pass Numérique {number}")
    );
    assert_eq!(mail.attachments.len(), 1, "{mail:?}");
    let (name, content_type, pdf) = &mail.attachments[0];
    assert_eq!(name, &format!("{number}.pdf"));
    assert_eq!(content_type, "application/pdf");
    assert!(pdf.starts_with(b"%PDF"), "a PDF is attached");
    let valid_until =
        chrono::NaiveDate::parse_from_str(book["valid_until"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap()
            .format("%d/%m/%Y")
            .to_string();
    assert!(
        mail.text
            .contains(&format!("valables jusqu’au {valid_until}")),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains("Médiathèque de Vesoul"),
        "nearest sites: {}",
        mail.text
    );
    assert!(mail.html.contains("Médiathèque de Vesoul") && mail.html.contains(number));

    let entry = outbox_entry(&app, &to, "sent").await;
    assert_eq!(entry["kind"], "checkbook");
    assert_eq!(entry["related_id"], book["id"]);
    assert_eq!(entry["attachment"], format!("{number}.pdf"));
    assert_eq!(entry["attempts"], 1);
    assert_eq!(
        bare(entry["message_id"].as_str().unwrap()),
        bare(&mail.message_id)
    );
    for hidden in ["body_text", "body_html", "text", "html"] {
        assert!(
            entry.get(hidden).is_none(),
            "the outbox never shows bodies: {entry}"
        );
    }

    // An issuance refused is no mail: the mail is recorded with its event or not at all.
    app.issue(
        &territory.prescriber,
        &territory.program,
        Some(json!({"reference": "CCAS-2", "email": address("refused")})),
    )
    .await
    .problem(409, "allocation_exhausted");
    assert_eq!(outbox(&app, "").await.len(), 1);
}

#[tokio::test]
async fn sending_a_checkbook_answers_202_and_the_mail_arrives_once_per_request() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    let territory = app.funded_territory(3).await;
    let prescriber = &territory.prescriber;
    let book = app
        .issue(
            prescriber,
            &territory.program,
            Some(json!({"reference": "ML-1"})),
        )
        .await
        .ok(201)
        .clone();
    let id = book["id"].as_str().unwrap();
    let send = format!("/api/v1/checkbooks/{id}/send");

    // No address given, none known.
    app.post(&send, &prescriber.token, json!({}))
        .await
        .problem(422, "validation_failed");

    let to = address("envoi");
    let with_key = || {
        app.raw(
            app.client
                .post(format!("{}{send}", app.address))
                .bearer_auth(&prescriber.token)
                .header("Idempotency-Key", "send-1")
                .json(&json!({"email": to})),
        )
    };
    let first = with_key().await;
    let queued = first.ok(202).clone();
    assert_eq!(queued["recipient"], to);
    assert_eq!(queued["kind"], "checkbook");
    assert_eq!(queued["related_id"], book["id"]);
    assert!(queued.get("body_html").is_none());
    let retry = with_key().await;
    assert_eq!(
        retry.ok(202)["id"],
        queued["id"],
        "a retry queues nothing more"
    );

    let mails = smtp.wait_for(&to, 1, WAIT).await;
    assert!(mails[0].attachments[0].2.starts_with(b"%PDF"));
    outbox_entry(&app, &to, "sent").await;
    assert_eq!(smtp.to(&to).len(), 1, "one mail for one request");

    // The address is now the beneficiary's: sending again needs none.
    let again = app
        .get(&format!("/api/v1/checkbooks/{id}"), &prescriber.token)
        .await;
    assert_eq!(again.ok(200)["beneficiary"]["email"], to);
    app.post(&send, &prescriber.token, json!({})).await.ok(202);
    smtp.wait_for(&to, 2, WAIT).await;

    // Only a handed-out checkbook of one's own, by its prescriber.
    let run = app
        .post(
            "/api/v1/print-runs",
            &prescriber.token,
            json!({"program_id": territory.program, "checkbooks": 1}),
        )
        .await
        .ok(201)
        .clone();
    let stock = run["checkbooks"][0]["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/checkbooks/{stock}/send"),
        &prescriber.token,
        json!({"email": address("stock")}),
    )
    .await
    .problem(409, "not_handed_out");
    let other = app.member_of_new("prescriber", "agent").await;
    app.post(&send, &other.token, json!({}))
        .await
        .problem(404, "not_found");
    let operator = app.operator().await;
    app.post(&send, &operator.token, json!({}))
        .await
        .problem(403, "forbidden");
    app.post(&send, &prescriber.token, json!({"email": "not-an-address"}))
        .await
        .problem(422, "validation_failed");
}

fn token_of(text: &str) -> String {
    let start = text
        .find("/invitation?token=")
        .expect("the link is in the mail")
        + "/invitation?token=".len();
    text[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

#[tokio::test]
async fn an_invitation_sets_the_password_once_and_expires() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    let operator = app.operator().await;
    let org = app
        .organization("prescriber", json!({"name": "CCAS <Vesoul> & Lure"}))
        .await;
    let org_id = org["id"].as_str().unwrap();
    let invite = async |email: &str| {
        app.post(
            &format!("/api/v1/organizations/{org_id}/users"),
            &operator.token,
            json!({"email": email, "role": "agent"}),
        )
        .await
    };
    let to = address("agent");
    let created = invite(&to).await;
    assert_eq!(created.ok(201)["status"], "invited");
    app.login(&to, PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    app.login(&to, "").await.problem(401, "invalid_credentials");

    let mail = smtp.wait_for(&to, 1, WAIT).await.remove(0);
    assert_eq!(
        mail.subject,
        "Invitation à rejoindre Pass Numérique (CCAS <Vesoul> & Lure)"
    );
    assert!(
        mail.html.contains("CCAS &lt;Vesoul&gt; &amp; Lure"),
        "{}",
        mail.html
    );
    let token = token_of(&mail.text);
    assert_eq!(token.len(), 64, "{}", mail.text);
    assert!(
        mail.text
            .contains(&format!("http://127.0.0.1:8080/invitation?token={token}"))
    );

    // Only the token's hash is stored.
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        token_hash: String,
    }
    let mut conn = app.db.connect().await;
    let stored: Vec<Stored> = diesel::sql_query("SELECT token_hash FROM invitations")
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].token_hash,
        hex::encode(Sha256::digest(token.as_bytes()))
    );

    let accept = async |token: &str, password: &str| {
        app.request(
            reqwest::Method::POST,
            "/api/v1/auth/invitations/accept",
            None,
            Some(json!({"token": token, "password": password})),
        )
        .await
    };
    accept(&"0".repeat(64), PASSWORD)
        .await
        .problem(404, "invitation_invalid");
    accept(&token, "short")
        .await
        .problem(422, "validation_failed");
    let accepted = accept(&token, PASSWORD).await;
    let user = accepted.ok(200);
    assert_eq!(user["email"], to);
    assert_eq!(user["status"], "active");
    assert_eq!(user["organization_id"], org["id"]);
    accept(&token, "another-long-password")
        .await
        .problem(410, "invitation_used");
    let login = app.login(&to, PASSWORD).await;
    assert!(login.ok(200)["access_token"].is_string());

    // An invitation past its expiry is refused, and the account stays closed.
    let late = address("late");
    invite(&late).await.ok(201);
    let token = token_of(&smtp.wait_for(&late, 1, WAIT).await[0].text);
    diesel::sql_query(
        "UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    accept(&token, PASSWORD)
        .await
        .problem(410, "invitation_expired");
    app.login(&late, PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    let entry = outbox_entry(&app, &late, "sent").await;
    assert_eq!(entry["kind"], "invitation");

    // Invited again: a new link works, the old one no longer does.
    let late_id = entry["related_id"].as_str().unwrap();
    let again = format!("/api/v1/organizations/{org_id}/users/{late_id}/invitation");
    app.post(&again, &operator.token, json!({})).await.ok(202);
    let fresh = token_of(&smtp.wait_for(&late, 2, WAIT).await[1].text);
    assert_ne!(fresh, token);
    accept(&token, PASSWORD)
        .await
        .problem(410, "invitation_used");
    accept(&fresh, PASSWORD).await.ok(200);
    app.login(&late, PASSWORD).await.ok(200);
    // A user with a password needs no invitation; another organisation's user is absent.
    app.post(&again, &operator.token, json!({}))
        .await
        .problem(409, "user_active");
    let stranger = app.member_of_new("site", "admin").await;
    app.post(&again, &stranger.token, json!({}))
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn a_settlement_tells_each_organisation_that_its_statement_is_ready() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    let operator = app.operator().await;
    let (program, funders) = app
        .program(&["0.60", "0.40"], json!({"commission_rate": "0.04"}))
        .await;
    app.pay(&program, &funders[0], "6000.00").await.ok(201);
    app.pay(&program, &funders[1], "4000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 1)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "S-1"})))
        .await
        .ok(201)
        .clone();
    let site = app.labelled_site_agent(json!({})).await;
    for ticket in &book["tickets"].as_array().unwrap()[..2] {
        app.raw(
            app.client
                .post(format!("{}/api/v1/redemptions", app.address))
                .bearer_auth(&site.token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({"code": ticket["code"]})),
        )
        .await
        .ok(201);
    }
    let day = passnum::domain::french_date(chrono::Utc::now()) - chrono::Days::new(40);
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', scanned_at = '{day} 12:00:00 Europe/Paris'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let settlement = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": day, "period_end": day}),
        )
        .await
        .ok(201)
        .clone();
    let statements = settlement["statements"].as_array().unwrap();
    assert_eq!(
        statements.len(),
        4,
        "site, two funders, commission: {settlement}"
    );
    for statement in statements {
        let org = app
            .get(
                &format!(
                    "/api/v1/organizations/{}",
                    statement["organization_id"].as_str().unwrap()
                ),
                &operator.token,
            )
            .await
            .ok(200)
            .clone();
        let email = org["email"].as_str().unwrap();
        let mails = smtp.wait_for(email, 1, WAIT).await;
        let number = statement["number"].as_str().unwrap();
        let mail = mails
            .iter()
            .find(|m| {
                m.subject
                    .starts_with(&format!("Relevé {number} disponible"))
            })
            .unwrap_or_else(|| panic!("statement {number} announced to {email}: {mails:?}"));
        assert!(
            mail.text.contains(org["name"].as_str().unwrap()),
            "{}",
            mail.text
        );
        assert!(mail.attachments.is_empty());
    }
    let announced: Vec<Value> = outbox(&app, "")
        .await
        .into_iter()
        .filter(|m| m["kind"] == "statement_ready")
        .collect();
    assert_eq!(announced.len(), 4, "one per organisation");
}

async fn remind(app: &TestApp) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_passnum"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &app.db.url)
        .env_remove("PASSNUM_ENV")
        .env("PASSNUM_LOG_LEVEL", "warn")
        .arg("remind")
        .output()
        .await
        .expect("passnum remind runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn remind_twice_sends_one_reminder_per_checkbook_with_unused_tickets() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    // Tickets valid 20 days: within the 30 days of the reminder.
    let (program, funders) = app.program(&["1.00"], json!({"validity_days": 20})).await;
    app.pay(&program, &funders[0], "10000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 5)
        .await
        .ok(201);
    let mut books = Vec::new();
    let (a, b, cancelled) = (address("a"), address("b"), address("cancelled"));
    for (reference, email) in [
        ("A", Some(&a)),
        ("B", Some(&b)),
        ("C", None),
        ("D", Some(&cancelled)),
    ] {
        let mut beneficiary = json!({"reference": reference});
        if let Some(email) = email {
            beneficiary["email"] = json!(email);
        }
        books.push(
            app.issue(&prescriber, &program, Some(beneficiary))
                .await
                .ok(201)
                .clone(),
        );
    }
    app.post(
        &format!(
            "/api/v1/checkbooks/{}/cancel",
            books[3]["id"].as_str().unwrap()
        ),
        &prescriber.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);

    let first = remind(&app).await;
    for book in &books[..2] {
        assert!(first.contains(book["number"].as_str().unwrap()), "{first}");
    }
    assert!(
        !first.contains(books[2]["number"].as_str().unwrap()),
        "no address: {first}"
    );
    assert!(
        !first.contains(books[3]["number"].as_str().unwrap()),
        "cancelled: {first}"
    );
    let second = remind(&app).await;
    assert!(second.contains("no reminder"), "idempotent: {second}");

    let valid_until =
        chrono::NaiveDate::parse_from_str(books[0]["valid_until"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap()
            .format("%d/%m/%Y")
            .to_string();
    for (to, book) in [(&a, &books[0]), (&b, &books[1])] {
        // The checkbook itself, then its reminder.
        let mails = smtp.wait_for(to, 2, WAIT).await;
        let reminders: Vec<_> = mails
            .iter()
            .filter(|m| {
                m.subject == format!("Vos chèques Pass Numérique expirent le {valid_until}")
            })
            .collect();
        assert_eq!(reminders.len(), 1, "{mails:?}");
        assert!(
            reminders[0].text.contains("10 chèque(s)"),
            "{}",
            reminders[0].text
        );
        assert!(reminders[0].text.contains(book["number"].as_str().unwrap()));
    }
    let queued: Vec<Value> = outbox(&app, "")
        .await
        .into_iter()
        .filter(|m| m["kind"] == "expiry_reminder")
        .collect();
    assert_eq!(queued.len(), 2);
    assert_eq!(
        smtp.to(&cancelled).len(),
        1,
        "the cancelled checkbook's own mail only"
    );
}

#[tokio::test]
async fn mails_wait_while_the_smtp_server_is_down_and_leave_when_it_is_back() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    smtp.stop().await;
    let operator = app.operator().await;
    let org = app.organization("site", json!({})).await;
    let to = address("patient");
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"email": to, "role": "admin"}),
    )
    .await
    .ok(201);
    // Tried and refused by a closed port: it waits, with the error, for a retry.
    let waiting = eventually("a failed attempt recorded", async || {
        outbox(&app, "&status=waiting")
            .await
            .into_iter()
            .find(|m| m["recipient"] == to.as_str() && m["attempts"].as_i64() >= Some(2))
    })
    .await;
    assert!(
        waiting["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{waiting}"
    );
    assert!(waiting["message_id"].is_string());
    assert!(smtp.received().is_empty());

    smtp.restart().await;
    let mail = smtp.wait_for(&to, 1, WAIT).await.remove(0);
    let sent = outbox_entry(&app, &to, "sent").await;
    assert_eq!(
        bare(sent["message_id"].as_str().unwrap()),
        bare(&mail.message_id)
    );
    assert!(sent["attempts"].as_i64().unwrap() >= 3, "{sent}");
    assert!(sent["last_error"].is_null());
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once_a_temporary_one_is_retried_and_the_operator_sees_both() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    let to = address("unknown");
    smtp.refuse(&to);
    let operator = app.operator().await;
    let org = app.organization("funder", json!({})).await;
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"email": to, "role": "agent"}),
    )
    .await
    .ok(201);
    let failed = outbox_entry(&app, &to, "failed").await;
    assert_eq!(failed["attempts"], 1, "a 5xx is not tried again: {failed}");
    assert!(
        failed["last_error"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    assert_eq!(failed["kind"], "invitation");
    assert!(outbox(&app, "&status=sent").await.is_empty());

    // A temporary refusal (4xx) is tried again until it passes.
    let later = address("later");
    smtp.defer(&later);
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"email": later, "role": "agent"}),
    )
    .await
    .ok(201);
    let deferred = eventually("a 451 recorded", async || {
        outbox(&app, "&status=waiting")
            .await
            .into_iter()
            .find(|m| m["recipient"] == later.as_str() && m["last_error"].is_string())
    })
    .await;
    assert!(
        deferred["last_error"].as_str().unwrap().contains("451"),
        "{deferred}"
    );
    smtp.undefer(&later);
    smtp.wait_for(&later, 1, WAIT).await;
    let sent = outbox_entry(&app, &later, "sent").await;
    assert!(sent["attempts"].as_i64().unwrap() >= 2, "{sent}");

    // The outbox is the operator's.
    let agent = app.member_of_new("prescriber", "admin").await;
    app.get("/api/v1/outbox", &agent.token)
        .await
        .problem(403, "forbidden");
    app.get("/api/v1/outbox?status=lost", &operator.token)
        .await
        .problem(400, "invalid_query");
    let first = app.get("/api/v1/outbox?limit=1", &operator.token).await;
    assert_eq!(first.ok(200)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_crash_between_sending_and_recording_resends_with_the_same_message_id() {
    let smtp = SmtpServer::start().await;
    let db = TestDatabase::new();
    let mut conn = db.connect().await;
    let mut settings = Settings::for_tests(db.url.clone(), std::env::temp_dir());
    settings.smtp_url = Some(smtp.url().into());
    let mut mailer = Mailer::from_settings(&settings).unwrap();
    let to = address("crash");
    let queued = passnum::mail::enqueue(
        &mut conn,
        NewMail {
            kind: MailKind::StatementReady,
            related_id: None,
            recipient: to.clone(),
            content: Rendered {
                subject: "Relevé prêt".into(),
                text: "Bonjour".into(),
                html: "<p>Bonjour</p>".into(),
            },
            attachment: Some(Attachment {
                filename: "releve.pdf".into(),
                content_type: "application/pdf",
                bytes: b"%PDF-1.7 test".to_vec(),
            }),
            dedupe_key: None,
        },
    )
    .await
    .unwrap()
    .unwrap();

    // The first attempt is recorded, then the mail goes out, then the process dies
    // before it records the outcome.
    let claimed = mailer.claim_due(&mut conn).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let message_id = claimed[0].message_id.clone().unwrap();
    assert_eq!(
        message_id,
        format!("<{}@pass-numerique.localhost>", queued.id)
    );
    assert_eq!(mailer.send(&claimed[0]).await, Outcome::Sent);
    smtp.wait_for(&to, 1, WAIT).await;

    // While the attempt may still be under way, nobody sends it again…
    assert_eq!(mailer.deliver_due(&mut conn).await.unwrap(), 0);
    // …once it is overdue, it is sent again with the same Message-ID.
    mailer.sending_timeout = Duration::ZERO;
    assert_eq!(mailer.deliver_due(&mut conn).await.unwrap(), 1);
    let both = smtp.wait_for(&to, 2, WAIT).await;
    assert_eq!(bare(&both[0].message_id), bare(&message_id));
    assert_eq!(both[1].message_id, both[0].message_id);
    assert!(both[1].attachments[0].2.starts_with(b"%PDF"));

    let rows = passnum::mail::list(&mut conn, None, None, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "sent");
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[0].message_id.as_deref(), Some(message_id.as_str()));
    // Sent: nothing left to do, however often the worker looks.
    assert_eq!(mailer.deliver_due(&mut conn).await.unwrap(), 0);
}

#[tokio::test]
async fn without_an_smtp_url_mails_are_written_as_eml_files_in_the_data_folder() {
    let dir = std::env::temp_dir().join(format!("passnum-mail-{}", Uuid::new_v4().simple()));
    let app = app_with(None, Some(dir.clone())).await;
    let operator = app.operator().await;
    let org = app.organization("prescriber", json!({})).await;
    let to = address("fichier");
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"email": to, "role": "agent"}),
    )
    .await
    .ok(201);
    let sent = outbox_entry(&app, &to, "sent").await;
    let message_id = sent["message_id"].as_str().unwrap();
    let file = dir.join("mail").join(format!("{}.eml", bare(message_id)));
    let raw = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = crate::smtp::Received {
        mail_from: String::new(),
        rcpt_to: vec![to.clone()],
        data: raw,
    }
    .parse();
    assert_eq!(parsed.to, to);
    assert_eq!(bare(&parsed.message_id), bare(message_id));
    assert!(
        parsed
            .subject
            .starts_with("Invitation à rejoindre Pass Numérique")
    );
    assert!(parsed.text.contains("/invitation?token="));
    let files = std::fs::read_dir(dir.join("mail")).unwrap().count();
    assert_eq!(files, 1, "one file per mail, no partial file left");
    let _ = std::fs::remove_dir_all(&dir);
}

/// "Renvoyer" on the operator's outbox page: a failed mail goes again once its cause
/// is mended, a sent one is sent again as a new mail; a single-use link or a mail
/// still waiting is refused in plain French, and the failure is explained in French.
#[tokio::test]
async fn the_operator_resends_a_failed_or_sent_mail_and_reads_why_it_failed() {
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), None).await;
    let operator = app.operator().await;
    let org = app.organization("funder", json!({})).await;
    let to = address("mistyped");
    smtp.refuse(&to);
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"email": to, "role": "agent"}),
    )
    .await
    .ok(201);
    let failed = outbox_entry(&app, &to, "failed").await;
    let explained = failed["last_error_explained"].as_str().unwrap();
    assert!(
        explained.contains("adresse du destinataire est refusée"),
        "{failed}"
    );
    let id = failed["id"].as_str().unwrap();

    // Not for a site's agent; not for a mail that does not exist.
    let agent = app.member_of_new("site", "agent").await;
    app.post(
        &format!("/api/v1/outbox/{id}/resend"),
        &agent.token,
        json!({}),
    )
    .await
    .problem(403, "forbidden");
    app.post(
        &format!("/api/v1/outbox/{}/resend", Uuid::now_v7()),
        &operator.token,
        json!({}),
    )
    .await
    .problem(404, "not_found");

    // The address mended on the mail server's side: the same mail goes, once.
    smtp.accept(&to);
    let again = app
        .post(
            &format!("/api/v1/outbox/{id}/resend"),
            &operator.token,
            json!({}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(again["id"], id, "a failed mail is tried again, not copied");
    assert_eq!(again["status"], "waiting");
    assert_eq!(again["attempts"], 0);
    smtp.wait_for(&to, 1, WAIT).await;
    outbox_entry(&app, &to, "sent").await;
    // A sent invitation carried a single-use link: not sent twice.
    let refused = app
        .post(
            &format!("/api/v1/outbox/{id}/resend"),
            &operator.token,
            json!({}),
        )
        .await
        .problem(409, "single_use_link")
        .clone();
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("invitez de nouveau")
    );

    // A sent reminder is copied into a new mail that arrives too.
    let reader = address("lecteur");
    let mut conn = app.db.connect().await;
    passnum::mail::enqueue(
        &mut conn,
        NewMail {
            kind: MailKind::ExpiryReminder,
            related_id: None,
            recipient: reader.clone(),
            content: Rendered {
                subject: "Vos chèques expirent bientôt".into(),
                text: "Texte".into(),
                html: "<p>Texte</p>".into(),
            },
            attachment: None,
            dedupe_key: None,
        },
    )
    .await
    .unwrap();
    let sent = outbox_entry(&app, &reader, "sent").await;
    let copy = app
        .post(
            &format!("/api/v1/outbox/{}/resend", sent["id"].as_str().unwrap()),
            &operator.token,
            json!({}),
        )
        .await
        .ok(200)
        .clone();
    assert_ne!(copy["id"], sent["id"]);
    assert_eq!(copy["recipient"], reader.as_str());
    assert_eq!(smtp.wait_for(&reader, 2, WAIT).await.len(), 2);

    // A mail still waiting goes by itself.
    let slow = address("lent");
    smtp.defer(&slow);
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"email": slow, "role": "agent"}),
    )
    .await
    .ok(201);
    let waiting = outbox_entry(&app, &slow, "waiting").await;
    app.post(
        &format!("/api/v1/outbox/{}/resend", waiting["id"].as_str().unwrap()),
        &operator.token,
        json!({}),
    )
    .await
    .problem(409, "mail_not_finished");
}
