//! A beneficiary's publics and needs (issue 14, point 2), and data protection
//! (point 5): erasure on the prescriber's request and by the retention purge, which
//! keep every amount, statement and SHA-256 as they were.

use chrono::Days;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

async fn scalar(app: &TestApp, query: &str) -> String {
    let (client, connection) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client.query_one(query, &[]).await.unwrap();
    row.get::<_, Option<String>>(0).unwrap_or_default()
}

async fn execute(app: &TestApp, query: &str) {
    let mut conn = app.db.connect().await;
    diesel::sql_query(query).execute(&mut conn).await.unwrap();
}

async fn redeem(app: &TestApp, site: &Actor, ticket: &Value) {
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

/// Set-up: the checkbook's validity ended (or ends) on `day`.
async fn valid_until(app: &TestApp, id: &str, day: chrono::NaiveDate) {
    execute(
        app,
        &format!("UPDATE checkbooks SET valid_until = '{day}' WHERE id = '{id}'"),
    )
    .await;
}

/// A stock checkbook of `program`, handed out to `beneficiary`: the answer of the
/// hand-out.
async fn handed_out(app: &TestApp, prescriber: &Actor, program: &str, beneficiary: Value) -> Value {
    let stock = app.issue(prescriber, program, None).await.ok(201).clone();
    app.post(
        &format!(
            "/api/v1/checkbooks/{}/hand-out",
            stock["id"].as_str().unwrap()
        ),
        &prescriber.token,
        json!({ "beneficiary": beneficiary }),
    )
    .await
    .ok(200)
    .clone()
}

#[tokio::test]
async fn publics_and_needs_are_recorded_checked_and_seen_by_the_issuing_prescriber_only() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(5).await;
    let operator = app.operator().await;
    let colleague = app.user_in(&t.prescriber.org_id.to_string(), "agent").await;

    // Unknown values are refused, naming the field; nothing is issued.
    for (body, field) in [
        (
            json!({"reference": "A", "publics": ["rsa", "martien"]}),
            "beneficiary.publics",
        ),
        (
            json!({"reference": "A", "needs": ["cuisine"]}),
            "beneficiary.needs",
        ),
        (
            json!({"reference": "A", "publics": "rsa"}),
            "beneficiary.publics",
        ),
    ] {
        let res = app
            .issue(&t.prescriber, &t.program, Some(body.clone()))
            .await;
        let problem = res.problem(422, "validation_failed");
        assert!(
            problem["field"].as_str().unwrap().starts_with(field),
            "{body}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{problem}"
        );
    }
    assert_eq!(
        scalar(&app, "SELECT count(*)::text FROM checkbooks").await,
        "0",
        "nothing half-written"
    );

    let book = app
        .issue(
            &t.prescriber,
            &t.program,
            Some(
                json!({"reference": "CCAS-7", "publics": ["senior", "rsa", "senior"],
                        "needs": ["smartphone", "demarches_en_ligne"]}),
            ),
        )
        .await
        .ok(201)
        .clone();
    assert_eq!(book["beneficiary"]["publics"], json!(["rsa", "senior"]));
    assert_eq!(
        book["beneficiary"]["needs"],
        json!(["demarches_en_ligne", "smartphone"])
    );
    let path = format!("/api/v1/checkbooks/{}", book["id"].as_str().unwrap());
    let by_colleague = app.get(&path, &colleague.token).await.ok(200).clone();
    assert_eq!(
        by_colleague["beneficiary"]["publics"],
        json!(["rsa", "senior"])
    );
    // The operator sees the checkbook, never the person's publics and needs.
    let by_operator = app.get(&path, &operator.token).await.ok(200).clone();
    assert_eq!(by_operator["beneficiary"]["reference"], "CCAS-7");
    assert!(
        by_operator["beneficiary"].get("publics").is_none(),
        "{by_operator}"
    );
    assert!(
        by_operator["beneficiary"].get("needs").is_none(),
        "{by_operator}"
    );
    let listed = app
        .get("/api/v1/checkbooks", &operator.token)
        .await
        .ok(200)
        .to_string();
    assert!(
        !listed.contains("senior") && !listed.contains("smartphone"),
        "{listed}"
    );
    // Funders and sites do not see the checkbook at all.
    let funder = app.user_in(&t.funders[0], "agent").await;
    let site = app.labelled_site_agent(json!({})).await;
    app.get(&path, &funder.token)
        .await
        .problem(404, "not_found");
    app.get(&path, &site.token).await.problem(404, "not_found");

    // The correction replaces a list, clears one, keeps the other fields.
    let corrected = app
        .patch(
            &path,
            &t.prescriber.token,
            json!({"beneficiary": {"needs": ["securite"], "publics": []}}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(corrected["beneficiary"]["needs"], json!(["securite"]));
    assert_eq!(corrected["beneficiary"]["publics"], json!([]));
    assert_eq!(corrected["beneficiary"]["reference"], "CCAS-7");
    app.patch(
        &path,
        &t.prescriber.token,
        json!({"beneficiary": {"needs": ["securite", "jardinage"]}}),
    )
    .await
    .problem(422, "validation_failed");

    // Handed out from stock: recorded too.
    let handed = handed_out(
        &app,
        &t.prescriber,
        &t.program,
        json!({"reference": "MDS-1", "publics": ["jeunes"], "needs": ["emploi"]}),
    )
    .await;
    assert_eq!(handed["beneficiary"]["publics"], json!(["jeunes"]));
    assert_eq!(handed["beneficiary"]["needs"], json!(["emploi"]));
}

#[tokio::test]
async fn erasure_on_request_empties_the_record_and_keeps_every_amount_and_statement() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(5).await;
    let operator = app.operator().await;
    let book = app
        .issue(
            &t.prescriber,
            &t.program,
            Some(
                json!({"reference": "CCAS-ERASE", "email": "personne@example.org",
                        "birth_year": 1950, "postcode": "70000", "situation": "retired",
                        "publics": ["senior"], "needs": ["messagerie"]}),
            ),
        )
        .await
        .ok(201)
        .clone();
    let id = book["id"].as_str().unwrap().to_string();
    let tickets = book["tickets"].as_array().unwrap().clone();
    let site = app
        .labelled_site_agent(json!({"siret": "73282932000074"}))
        .await;
    for ticket in &tickets[..3] {
        redeem(&app, &site, ticket).await;
    }
    // Settled 40 days back: its statements are sealed with their SHA-256.
    let day = passnum::domain::french_date(chrono::Utc::now()) - Days::new(40);
    execute(&app, &format!("UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', scanned_at = '{day} 12:00:00 Europe/Paris'")).await;
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": day, "period_end": day}),
    )
    .await
    .ok(201);
    let facts = "SELECT string_agg(number || ':' || total || ':' || sha256, ',' ORDER BY number) FROM statements";
    let money = "SELECT (SELECT string_agg(id::text || status || value, ',' ORDER BY id) FROM tickets)
                 || (SELECT count(*)::text || sum(amount)::text FROM ledger_postings)
                 || (SELECT string_agg(id::text || status || amount_payable, ',' ORDER BY id) FROM redemptions)";
    let statements_before = scalar(&app, facts).await;
    let money_before = scalar(&app, money).await;
    assert!(
        statements_before.contains(':'),
        "sealed statements: {statements_before}"
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT string_agg(status, ',') FROM outbox WHERE related_id = '{id}'")
        )
        .await,
        "waiting",
        "the checkbook's mail waits (no worker in tests)"
    );

    // Others cannot erase it.
    let path = format!("/api/v1/checkbooks/{id}/erase-beneficiary");
    let stranger = app.member_of_new("prescriber", "agent").await;
    app.post(&path, &stranger.token, json!({}))
        .await
        .problem(404, "not_found");
    app.post(&path, &operator.token, json!({}))
        .await
        .problem(403, "forbidden");

    let erased = app
        .post(&path, &t.prescriber.token, json!({}))
        .await
        .ok(200)
        .clone();
    let b = &erased["beneficiary"];
    for field in ["reference", "email", "birth_year", "postcode", "situation"] {
        assert!(b[field].is_null(), "{field}: {b}");
    }
    assert_eq!(b["publics"], json!([]));
    assert_eq!(b["needs"], json!([]));
    let erased_at = b["erased_at"].as_str().unwrap().to_string();
    assert_eq!(erased["status"], "handed_out");
    assert_eq!(erased["tickets"].as_array().unwrap().len(), tickets.len());
    // Nothing of the person is left in the database, the mails included.
    let row = scalar(
        &app,
        &format!("SELECT row_to_json(c)::text FROM checkbooks c WHERE id = '{id}'"),
    )
    .await;
    let mails = scalar(&app, &format!("SELECT string_agg(status || recipient || coalesce(attachment_name, '') || coalesce(length(attachment), 0), ',') FROM outbox WHERE related_id = '{id}'")).await;
    for value in [
        "CCAS-ERASE",
        "personne@example.org",
        "1950",
        "70000",
        "retired",
        "senior",
        "messagerie",
    ] {
        assert!(!row.contains(value), "{value} in {row}");
        assert!(!mails.contains(value), "{value} in {mails}");
    }
    assert!(
        mails.starts_with("failed"),
        "the waiting mail is withdrawn: {mails}"
    );

    // Again: the same answer, the same date, one audit entry naming fields only.
    let again = app
        .post(&path, &t.prescriber.token, json!({}))
        .await
        .ok(200)
        .clone();
    assert_eq!(again["beneficiary"]["erased_at"], erased_at.as_str());
    let trail = app
        .get(&format!("/api/v1/audit?entity_id={id}"), &operator.token)
        .await
        .ok(200)["items"]
        .clone();
    let entries: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "checkbook.beneficiary_erased")
        .collect();
    assert_eq!(entries.len(), 1, "{trail:#}");
    assert_eq!(entries[0]["after"]["fields"]["email"], "effacé");
    assert_eq!(entries[0]["after"]["fields"]["publics"], "effacé");
    for value in ["CCAS-ERASE", "personne@example.org", "1950", "70000"] {
        assert!(!trail.to_string().contains(value), "{value} in the trail");
    }

    // The money and the statements did not move.
    assert_eq!(scalar(&app, facts).await, statements_before);
    assert_eq!(scalar(&app, money).await, money_before);
    app.assert_ledger_invariants().await;

    // The record cannot be sent nor corrected any more.
    app.patch(
        &format!("/api/v1/checkbooks/{id}"),
        &t.prescriber.token,
        json!({"beneficiary": {"reference": "X"}}),
    )
    .await
    .problem(409, "beneficiary_erased");
    app.post(
        &format!("/api/v1/checkbooks/{id}/send"),
        &t.prescriber.token,
        json!({"email": "autre@example.org"}),
    )
    .await
    .problem(409, "beneficiary_erased");
    // A stock checkbook has nothing to erase.
    let stock = app
        .issue(&t.prescriber, &t.program, None)
        .await
        .ok(201)
        .clone();
    app.post(
        &format!(
            "/api/v1/checkbooks/{}/erase-beneficiary",
            stock["id"].as_str().unwrap()
        ),
        &t.prescriber.token,
        json!({}),
    )
    .await
    .problem(409, "not_handed_out");
}

#[tokio::test]
async fn the_purge_erases_the_records_kept_past_their_delay_and_only_those() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(5).await;
    let operator = app.operator().await;
    let mut ids = Vec::new();
    for reference in ["OLD-1", "RECENT-2", "CANCELLED-3"] {
        let book = app
            .issue(
                &t.prescriber,
                &t.program,
                Some(json!({"reference": reference, "email": format!("{}@example.org", reference.to_lowercase()),
                            "postcode": "70000", "publics": ["rsa"], "needs": ["emploi"]})),
            )
            .await
            .ok(201)
            .clone();
        ids.push(book["id"].as_str().unwrap().to_string());
    }
    let today = passnum::domain::french_date(chrono::Utc::now());
    // Ended 12 months and 2 days ago; ended 12 months ago today (kept through today);
    // cancelled 13 months ago while still valid.
    let old = today - chrono::Months::new(12) - Days::new(2);
    let edge = today - chrono::Months::new(12);
    valid_until(&app, &ids[0], old).await;
    valid_until(&app, &ids[1], edge).await;
    app.post(
        &format!("/api/v1/checkbooks/{}/cancel", ids[2]),
        &t.prescriber.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    execute(
        &app,
        &format!(
            "UPDATE checkbooks SET cancelled_at = now() - interval '13 months' WHERE id = '{}'",
            ids[2]
        ),
    )
    .await;
    let postings_before = scalar(
        &app,
        "SELECT count(*)::text || sum(amount)::text FROM ledger_postings",
    )
    .await;

    let mut conn = app.db.connect().await;
    let purged = passnum::checkbooks::purge(
        &mut conn,
        passnum::audit::Actor::Service("test purge"),
        today,
        12,
    )
    .await
    .unwrap();
    assert_eq!(purged.erased, 2);
    assert_eq!(purged.mails_withdrawn, 2);
    let erased = scalar(&app, "SELECT string_agg(id::text, ',' ORDER BY id) FROM checkbooks WHERE beneficiary_erased_at IS NOT NULL AND beneficiary_reference IS NULL AND beneficiary_email IS NULL AND beneficiary_postcode IS NULL AND beneficiary_publics = '{}' AND beneficiary_needs = '{}'").await;
    let mut expected = [ids[0].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(erased, expected.join(","));
    let kept = app
        .get(
            &format!("/api/v1/checkbooks/{}", ids[1]),
            &t.prescriber.token,
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(kept["beneficiary"]["reference"], "RECENT-2");
    assert_eq!(kept["beneficiary"]["publics"], json!(["rsa"]));

    // Once more: nothing left to erase. The trail has one entry per run, counts only.
    let again = passnum::checkbooks::purge(
        &mut conn,
        passnum::audit::Actor::Service("test purge"),
        today,
        12,
    )
    .await
    .unwrap();
    assert_eq!(again.erased, 0);
    let trail = app
        .get(
            "/api/v1/audit?action=checkbook.beneficiaries_purged",
            &operator.token,
        )
        .await
        .ok(200)["items"]
        .clone();
    let runs: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "checkbook.beneficiaries_purged")
        .collect();
    assert!(!runs.is_empty(), "{trail:#}");
    assert_eq!(
        runs.iter()
            .map(|r| r["after"]["erased"].as_i64().unwrap())
            .max(),
        Some(2)
    );
    assert!(!trail.to_string().contains("OLD-1"));
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*)::text || sum(amount)::text FROM ledger_postings"
        )
        .await,
        postings_before
    );
    app.assert_ledger_invariants().await;
}

/// `passnum purge`, the command of a cron or of an operator, erases what the daily job
/// would: the record past its delay, publics and needs included, and nothing else.
#[tokio::test]
async fn the_purge_command_erases_the_records_past_their_delay() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(5).await;
    let mut ids = Vec::new();
    for reference in ["CRON-OLD", "CRON-NEW"] {
        let book = app
            .issue(
                &t.prescriber,
                &t.program,
                Some(json!({"reference": reference, "postcode": "70000",
                            "publics": ["handicap"], "needs": ["securite"]})),
            )
            .await
            .ok(201)
            .clone();
        ids.push(book["id"].as_str().unwrap().to_string());
    }
    let today = passnum::domain::french_date(chrono::Utc::now());
    let old = today - chrono::Months::new(13);
    valid_until(&app, &ids[0], old).await;

    let data = crate::secrets::DataDir::new("purge-command");
    std::fs::create_dir_all(&data.0).unwrap();
    let out = crate::secrets::passnum(&data.0, None)
        .env("DATABASE_URL", &app.db.url)
        .arg("purge")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 beneficiary record(s) erased (12 month(s)"),
        "{stdout}"
    );
    let state = |id: &str| {
        format!(
            "SELECT coalesce(beneficiary_reference, '-') || ':' || cardinality(beneficiary_publics) \
             || ':' || cardinality(beneficiary_needs) || ':' || (beneficiary_erased_at IS NOT NULL) \
             FROM checkbooks WHERE id = '{id}'"
        )
    };
    assert_eq!(scalar(&app, &state(&ids[0])).await, "-:0:0:true");
    assert_eq!(scalar(&app, &state(&ids[1])).await, "CRON-NEW:1:1:false");
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn the_checkbook_and_its_first_mail_carry_the_information_notice() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(5).await;
    let book = app
        .issue(
            &t.prescriber,
            &t.program,
            Some(json!({"reference": "NOTICE-1", "email": "lecteur@example.org"})),
        )
        .await
        .ok(201)
        .clone();
    let id = book["id"].as_str().unwrap();
    let prescriber = scalar(
        &app,
        &format!(
            "SELECT name FROM organizations WHERE id = '{}'",
            t.prescriber.org_id
        ),
    )
    .await;
    let operator = scalar(
        &app,
        "SELECT name || ' (' || email || ')' FROM organizations WHERE kind = 'operator'",
    )
    .await;
    let expected = [
        "Vos données personnelles".to_string(),
        format!("{prescriber} enregistre une référence de dossier"),
        "votre e-mail, votre année de naissance, votre code postal".into(),
        "votre situation, vos publics et vos besoins".into(),
        "compter les bénéficiaires (sans vous nommer)".into(),
        "Le lieu qui vous forme note votre autonomie avant et après, et les thèmes vus, sans votre nom".into(),
        "Vos données sont effacées 12 mois après la fin de validité du chéquier ; les montants et ce suivi restent".into(),
        format!("adressez-vous à {prescriber} ou à {operator}"),
    ];

    let pdf = app
        .client
        .get(format!("{}/api/v1/checkbooks/{id}/pdf", app.address))
        .bearer_auth(&t.prescriber.token)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    let text = one_line(&crate::prescribers::pdf_text(&pdf.bytes().await.unwrap()));
    for phrase in &expected {
        assert!(
            text.contains(phrase.as_str()),
            "PDF lacks {phrase:?}: {text}"
        );
    }

    let mail = scalar(
        &app,
        &format!("SELECT body_text || ' ' || body_html FROM outbox WHERE related_id = '{id}'"),
    )
    .await;
    let mail = one_line(&mail);
    for phrase in &expected {
        assert!(
            mail.contains(phrase.as_str()),
            "mail lacks {phrase:?}: {mail}"
        );
    }

    // A stock checkbook: its first mail is the one sent after the hand-out.
    let stock = handed_out(
        &app,
        &t.prescriber,
        &t.program,
        json!({"reference": "NOTICE-2", "email": "remis@example.org",
               "publics": ["senior"], "needs": ["messagerie"]}),
    )
    .await;
    let stock_id = stock["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/checkbooks/{stock_id}/send"),
        &t.prescriber.token,
        json!({}),
    )
    .await
    .ok(202);
    let first = one_line(
        &scalar(
            &app,
            &format!(
                "SELECT body_text || ' ' || body_html FROM outbox WHERE related_id = '{stock_id}'"
            ),
        )
        .await,
    );
    for phrase in &expected {
        assert!(
            first.contains(phrase.as_str()),
            "the mail after a hand-out lacks {phrase:?}: {first}"
        );
    }
}

/// Whether `value` stands in `text` as a whole (not inside a longer run of digits or
/// letters: a postcode must not be "found" inside a timestamp's nanoseconds).
fn stands_in(text: &str, value: &str) -> bool {
    text.match_indices(value).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + value.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

#[tokio::test]
async fn no_beneficiary_value_reaches_the_log_of_a_full_run() {
    use crate::secrets::{DataDir, Server, passnum};

    let mut app = TestApp::spawn().await;
    let data = DataDir::new("beneficiary-logs");
    std::fs::create_dir_all(&data.0).unwrap();
    let log_path = data.0.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Server::start({
        let mut cmd = passnum(&data.0, None);
        cmd.env("DATABASE_URL", &app.db.url)
            .env("PASSNUM_LOG_LEVEL", "debug")
            .env("PASSNUM_LOG_FORMAT", "json")
            .env("PASSNUM_MAIL_WORKER", "true")
            .env("PASSNUM_MAIL_POLL_INTERVAL_MS", "100")
            .stderr(std::process::Stdio::from(log));
        cmd
    })
    .await;
    // Every request of the scenario goes to the real binary, whose log is captured.
    app.address = server.base.clone();

    let values = [
        "LOGREF-88421",
        "secret.person@example.org",
        "corrected.person@example.org",
        "39170",
        "25140",
        "demandeur_emploi",
        "parentalite",
        "LOGREF-77310",
        "sans_diplome",
        "bureautique",
    ];
    let t = app.funded_territory(5).await;
    let book = app
        .issue(
            &t.prescriber,
            &t.program,
            Some(
                json!({"reference": values[0], "email": values[1], "postcode": values[3],
                        "birth_year": 1961, "situation": "job_seeker",
                        "publics": [values[5]], "needs": [values[6]]}),
            ),
        )
        .await
        .ok(201)
        .clone();
    let id = book["id"].as_str().unwrap().to_string();
    // A bad e-mail is refused: its problem names the field, not the value.
    app.patch(
        &format!("/api/v1/checkbooks/{id}"),
        &t.prescriber.token,
        json!({"beneficiary": {"email": "not-an-address-LOGREF-88421"}}),
    )
    .await
    .problem(422, "validation_failed");
    app.post(
        &format!("/api/v1/checkbooks/{id}/send"),
        &t.prescriber.token,
        json!({}),
    )
    .await
    .ok(202);
    // A stock checkbook handed out: its publics and needs stay out of the log too.
    handed_out(
        &app,
        &t.prescriber,
        &t.program,
        json!({"reference": values[7], "publics": [values[8]], "needs": [values[9]]}),
    )
    .await;
    let site = app.labelled_site_agent(json!({})).await;
    redeem(&app, &site, &book["tickets"][0]).await;
    app.patch(
        &format!("/api/v1/checkbooks/{id}"),
        &t.prescriber.token,
        json!({"beneficiary": {"email": values[2], "postcode": values[4]}}),
    )
    .await
    .ok(200);
    app.get("/api/v1/checkbooks?q=LOGREF", &t.prescriber.token)
        .await
        .ok(200);
    // Let the mail worker send what is waiting, then erase.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.post(
        &format!("/api/v1/checkbooks/{id}/erase-beneficiary"),
        &t.prescriber.token,
        json!({}),
    )
    .await
    .ok(200);
    server.stop();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("erase-beneficiary"),
        "the scenario is in the log:\n{logs}"
    );
    for value in values {
        assert!(!stands_in(&logs, value), "{value} is in the log:\n{logs}");
    }
    assert!(
        !logs.contains("LOGREF"),
        "the search words are in the log:\n{logs}"
    );
}

/// The columns of `table` in the generated schema.
fn columns(schema: &str, table: &str) -> Vec<String> {
    let start = schema
        .find(&format!("    {table} ("))
        .unwrap_or_else(|| panic!("no table {table} in src/schema.rs"));
    schema[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.trim() != "}")
        .filter_map(|line| line.trim().split_once(" ->"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// `docs/DATA.md`, the register of processing, names every field kept about a
/// beneficiary and every field of the follow-up: a column added to either without
/// its line in the register fails here.
#[test]
fn the_register_of_processing_names_every_field_kept_about_a_person() {
    let root = env!("CARGO_MANIFEST_DIR");
    let schema = std::fs::read_to_string(format!("{root}/src/schema.rs")).unwrap();
    let register = std::fs::read_to_string(format!("{root}/docs/DATA.md")).unwrap();
    let beneficiary: Vec<String> = columns(&schema, "checkbooks")
        .iter()
        .filter_map(|c| c.strip_prefix("beneficiary_"))
        .filter(|c| *c != "erased_at")
        .map(str::to_string)
        .collect();
    assert!(
        beneficiary.len() >= 7 && beneficiary.iter().any(|c| c == "publics"),
        "{beneficiary:?}"
    );
    let follow_up: Vec<String> = columns(&schema, "evaluations")
        .into_iter()
        .filter(|c| {
            ![
                "id",
                "checkbook_id",
                "program_id",
                "created_at",
                "updated_at",
            ]
            .contains(&c.as_str())
        })
        .collect();
    assert!(
        follow_up.iter().any(|c| c == "level_before"),
        "{follow_up:?}"
    );
    for field in beneficiary.iter().chain(&follow_up) {
        assert!(
            register.contains(&format!("`{field}`")),
            "docs/DATA.md does not name `{field}`"
        );
    }
    assert!(register.contains("`beneficiary_erased_at`"));
}
