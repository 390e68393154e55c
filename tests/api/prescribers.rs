//! A prescriber's year (issue 13, point 5): finding a checkbook, print runs printed
//! again, a beneficiary's e-mail corrected, the checkbooks to call before they
//! expire, an expired stock checkbook refused at hand-out, and each checkbook's mail.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::{Actor, TestApp};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn items(res: &Value) -> Vec<Value> {
    res["items"].as_array().unwrap().clone()
}

fn numbers(res: &Value) -> Vec<String> {
    let mut n: Vec<String> = items(res)
        .iter()
        .map(|b| b["number"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

async fn search(app: &TestApp, actor: &Actor, q: &str) -> Vec<String> {
    let encoded: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!("/api/v1/checkbooks?q={encoded}");
    numbers(app.get(&url, &actor.token).await.ok(200))
}

async fn sql(app: &TestApp, statement: &str) {
    let mut conn = app.db.connect().await;
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn prescribers_find_their_checkbooks_by_reference_number_or_serial() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(10).await;
    let agent = &territory.prescriber;
    let mut books = Vec::new();
    for reference in ["CCAS-2026-0042", "ccas-2026-0099", "ML-7"] {
        books.push(
            app.issue(
                agent,
                &territory.program,
                Some(json!({"reference": reference})),
            )
            .await
            .ok(201)
            .clone(),
        );
    }
    let number = |i: usize| books[i]["number"].as_str().unwrap().to_string();
    // Another prescriber of the same program, with a look-alike reference.
    let other = app.member_of_new("prescriber", "agent").await;
    app.allocate(&territory.program, &other.org_id.to_string(), 2)
        .await
        .ok(201);
    let theirs = app
        .issue(
            &other,
            &territory.program,
            Some(json!({"reference": "CCAS-2026-0042"})),
        )
        .await
        .ok(201)
        .clone();

    let serial = books[2]["tickets"][3]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "reference, any case",
            "ccas-2026".into(),
            vec![number(0), number(1)],
        ),
        ("whole reference", "CCAS-2026-0042".into(), vec![number(0)]),
        ("checkbook number", number(1), vec![number(1)]),
        (
            "end of a number",
            number(2)[number(2).len() - 6..].to_string(),
            vec![number(2)],
        ),
        ("serial as printed", serial.clone(), vec![number(2)]),
        (
            "serial without dashes, lowercase",
            serial.replace('-', "").to_lowercase(),
            vec![number(2)],
        ),
        (
            "part of a serial",
            serial.replace('-', "")[2..9].to_string(),
            vec![number(2)],
        ),
        ("no match", "ZZZZ-NOTHING".into(), vec![]),
        ("wildcards are plain text", "%".into(), vec![]),
        ("empty: everything", "  ".into(), {
            let mut all = vec![number(0), number(1), number(2)];
            all.sort();
            all
        }),
    ];
    for (case, q, expected) in cases {
        let mut expected = expected;
        expected.sort();
        assert_eq!(search(&app, agent, &q).await, expected, "{case}: q={q}");
    }

    // Never another organisation's: not by its reference, not by its serials.
    let their_serial = theirs["tickets"][0]["serial"].as_str().unwrap();
    assert_eq!(
        search(&app, agent, their_serial).await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(&app, &other, "CCAS-2026-0042").await,
        vec![theirs["number"].as_str().unwrap().to_string()]
    );
    assert_eq!(search(&app, &other, &serial).await, Vec::<String>::new());
    // The operator finds by reference or number, never by a serial (a secret).
    let operator = app.operator().await;
    assert_eq!(search(&app, &operator, &serial).await, Vec::<String>::new());
    assert_eq!(search(&app, &operator, &number(1)).await, vec![number(1)]);

    let long = "x".repeat(65);
    let res = app
        .get(&format!("/api/v1/checkbooks?q={long}"), &agent.token)
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "q");
}

pub(crate) fn pdf_text(bytes: &[u8]) -> String {
    let file =
        std::env::temp_dir().join(format!("passnum-run-{}.pdf", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(out.status.success());
    std::fs::remove_file(&file).ok();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn print_runs_are_listed_and_print_again_with_the_same_tickets() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(10).await;
    let agent = &territory.prescriber;
    let mut runs = Vec::new();
    for count in [3, 2] {
        runs.push(
            app.post(
                "/api/v1/print-runs",
                &agent.token,
                json!({"program_id": territory.program, "checkbooks": count}),
            )
            .await
            .ok(201)
            .clone(),
        );
    }
    // One of the first run is handed out, another cancelled.
    let first_books = runs[0]["checkbooks"].as_array().unwrap().clone();
    app.post(
        &format!("/api/v1/checkbooks/{}/hand-out", id(&first_books[0])),
        &agent.token,
        json!({"beneficiary": {"reference": "R-1"}}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/checkbooks/{}/cancel", id(&first_books[1])),
        &agent.token,
        json!({"reason": "abîmé"}),
    )
    .await
    .ok(200);

    let list = app.get("/api/v1/print-runs", &agent.token).await;
    let listed = items(list.ok(200));
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["id"], runs[0]["id"]);
    assert_eq!(listed[0]["checkbooks"], 3);
    assert_eq!(listed[0]["in_stock"], 1);
    assert_eq!(listed[0]["handed_out"], 1);
    assert_eq!(listed[0]["cancelled"], 1);
    assert_eq!(listed[0]["first_number"], first_books[0]["number"]);
    assert_eq!(listed[0]["last_number"], first_books[2]["number"]);
    assert_eq!(listed[1]["in_stock"], 2);
    // Paged like every list.
    let page = app.get("/api/v1/print-runs?limit=1", &agent.token).await;
    assert_eq!(items(page.ok(200)).len(), 1);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/api/v1/print-runs?limit=1&cursor={cursor}"),
            &agent.token,
        )
        .await;
    assert_eq!(items(next.ok(200))[0]["id"], runs[1]["id"]);

    // Printed again later: the same tickets, every time.
    let pdf = |run: &Value| {
        let url = format!("/api/v1/print-runs/{}/pdf", id(run));
        let token = agent.token.clone();
        let client = app.client.clone();
        let address = app.address.clone();
        async move {
            let res = client
                .get(format!("{address}{url}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.bytes().await.unwrap().to_vec()
        }
    };
    let (once, again) = (pdf(&runs[0]).await, pdf(&runs[0]).await);
    let (once, again) = (pdf_text(&once), pdf_text(&again));
    let mut serials = 0;
    for book in &first_books {
        let full = app
            .get(&format!("/api/v1/checkbooks/{}", id(book)), &agent.token)
            .await;
        for ticket in full.ok(200)["tickets"].as_array().unwrap() {
            let serial = ticket["serial"].as_str().unwrap();
            assert!(once.contains(serial), "{serial} printed");
            assert!(again.contains(serial), "{serial} printed again");
            serials += 1;
        }
    }
    assert_eq!(serials, 30);
    assert_eq!(once, again, "the reprint is the same document");

    // Nobody else lists them.
    let other = app.member_of_new("prescriber", "admin").await;
    assert!(items(app.get("/api/v1/print-runs", &other.token).await.ok(200)).is_empty());
    let funder = app.member_of_new("funder", "admin").await;
    app.get("/api/v1/print-runs", &funder.token)
        .await
        .problem(403, "forbidden");
}

#[derive(QueryableByName)]
struct Mail {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    status: String,
}

async fn mails_of(app: &TestApp, checkbook: &str) -> Vec<Mail> {
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "SELECT kind, recipient, status FROM outbox WHERE related_id = '{checkbook}' ORDER BY id"
    ))
    .load(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_corrected_email_is_where_the_checkbook_and_its_reminder_go() {
    let app = TestApp::spawn().await;
    // Tickets valid 20 days: within the reminder's 30 days.
    let (program, funders) = app.program(&["1.00"], json!({"validity_days": 20})).await;
    app.pay(&program, &funders[0], "10000.00").await.ok(201);
    let agent = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &agent.org_id.to_string(), 5)
        .await
        .ok(201);
    let book = app
        .issue(
            &agent,
            &program,
            Some(json!({"reference": "CCAS-1", "email": "faute@exmple.org", "postcode": "39100"})),
        )
        .await
        .ok(201)
        .clone();
    let url = format!("/api/v1/checkbooks/{}", id(&book));
    assert_eq!(book["mail"]["status"], "waiting");
    assert_eq!(book["mail"]["recipient"], "faute@exmple.org");

    // Refused like at creation, naming the field; nothing changes.
    let cases = [
        (
            json!({"beneficiary": {"email": "pas-une-adresse"}}),
            "beneficiary.email",
        ),
        (
            json!({"beneficiary": {"reference": " "}}),
            "beneficiary.reference",
        ),
        (
            json!({"beneficiary": {"birth_year": 1800}}),
            "beneficiary.birth_year",
        ),
        (
            json!({"beneficiary": {"postcode": "ABC"}}),
            "beneficiary.postcode",
        ),
        (json!({"beneficiary": {"name": "Jean"}}), "name"),
        (
            json!({"beneficiary": {"situation": "astronaut"}}),
            "situation",
        ),
    ];
    for (body, field) in cases {
        let res = app.patch(&url, &agent.token, body.clone()).await;
        let problem = res.problem(422, "validation_failed");
        assert!(
            problem["field"].as_str().unwrap().ends_with(field),
            "{body}: {problem}"
        );
    }
    assert_eq!(
        app.get(&url, &agent.token).await.ok(200)["beneficiary"]["email"],
        "faute@exmple.org"
    );

    // Corrected: only the e-mail changes; the waiting mail goes to the new address.
    let res = app
        .patch(
            &url,
            &agent.token,
            json!({"beneficiary": {"email": " Bonne@Example.org "}}),
        )
        .await;
    let corrected = res.ok(200);
    assert_eq!(corrected["beneficiary"]["email"], "bonne@example.org");
    assert_eq!(corrected["beneficiary"]["reference"], "CCAS-1");
    assert_eq!(corrected["beneficiary"]["postcode"], "39100");
    assert_eq!(corrected["tickets"], book["tickets"]);
    assert_eq!(corrected["mail"]["recipient"], "bonne@example.org");
    let mails = mails_of(&app, id(&book)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipient, "bonne@example.org");

    // One audit entry, naming the field changed, never its value.
    #[derive(QueryableByName)]
    struct Audited {
        #[diesel(sql_type = Text)]
        action: String,
        #[diesel(sql_type = Text)]
        after: String,
    }
    let mut conn = app.db.connect().await;
    let audited: Vec<Audited> = diesel::sql_query(format!(
        "SELECT action, after::text AS after FROM audit_entries WHERE entity_id = '{}'",
        id(&book)
    ))
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1, "one entry for one correction");
    assert_eq!(audited[0].action, "checkbook.beneficiary_corrected");
    assert!(audited[0].after.contains("email"), "{}", audited[0].after);
    assert!(!audited[0].after.contains("example.org"), "no address kept");

    // "Send again" without an address: to the corrected one.
    let sent = app
        .post(&format!("{url}/send"), &agent.token, json!({}))
        .await;
    assert_eq!(sent.ok(202)["recipient"], "bonne@example.org");

    // The reminder, too.
    let today = passnum::domain::french_date(chrono::Utc::now());
    let queued = passnum::mail::events::queue_expiry_reminders(&mut conn, today)
        .await
        .map_err(|_| "remind")
        .unwrap();
    assert_eq!(queued.len(), 1);
    let reminders: Vec<Mail> = mails_of(&app, id(&book))
        .await
        .into_iter()
        .filter(|m| m.kind == "expiry_reminder")
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].recipient, "bonne@example.org");

    // The address removed: mails still waiting are given up, never sent elsewhere.
    let cleared = app
        .patch(&url, &agent.token, json!({"beneficiary": {"email": null}}))
        .await;
    assert!(cleared.ok(200)["beneficiary"]["email"].is_null());
    let mails = mails_of(&app, id(&book)).await;
    assert!(mails.iter().all(|m| m.status == "failed"), "given up");
    let shown = app.get(&url, &agent.token).await;
    assert_eq!(shown.ok(200)["mail"]["status"], "failed");
    assert!(
        shown.body["mail"]["failure"]
            .as_str()
            .unwrap()
            .contains("retirée avant l’envoi"),
        "{}",
        shown.body
    );

    // Not a stock checkbook (no beneficiary yet), not a cancelled one, not another's.
    let stock = app.issue(&agent, &program, None).await.ok(201).clone();
    app.patch(
        &format!("/api/v1/checkbooks/{}", id(&stock)),
        &agent.token,
        json!({"beneficiary": {"email": "x@example.org"}}),
    )
    .await
    .problem(409, "not_handed_out");
    let other = app.member_of_new("prescriber", "admin").await;
    app.patch(
        &url,
        &other.token,
        json!({"beneficiary": {"email": "x@example.org"}}),
    )
    .await
    .problem(404, "not_found");
    app.post(
        &format!("{url}/cancel"),
        &agent.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    let res = app
        .patch(
            &url,
            &agent.token,
            json!({"beneficiary": {"email": "x@example.org"}}),
        )
        .await;
    let problem = res.problem(409, "checkbook_cancelled");
    assert!(problem["detail"].as_str().unwrap().contains("annulé"));
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn an_expired_stock_checkbook_is_not_handed_out() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(5).await;
    let agent = &territory.prescriber;
    let stock = app
        .issue(agent, &territory.program, None)
        .await
        .ok(201)
        .clone();
    let fresh = app
        .issue(agent, &territory.program, None)
        .await
        .ok(201)
        .clone();
    // Its validity ended yesterday (as the printed tickets say).
    sql(
        &app,
        &format!(
            "UPDATE checkbooks SET valid_until = current_date - 1 WHERE id = '{}'",
            id(&stock)
        ),
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/checkbooks/{}/hand-out", id(&stock)),
            &agent.token,
            json!({"beneficiary": {"reference": "TROP-TARD"}}),
        )
        .await;
    let problem = res.problem(409, "checkbook_expired");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("ne peut plus être remis"), "{detail}");
    assert!(detail.contains("valable jusqu’au"), "{detail}");
    assert!(!detail.contains('\''), "typographic apostrophes: {detail}");
    assert!(problem["valid_until"].is_string());
    let after = app
        .get(&format!("/api/v1/checkbooks/{}", id(&stock)), &agent.token)
        .await;
    assert_eq!(after.ok(200)["status"], "stock", "nothing written");
    assert!(after.body["beneficiary"].is_null());
    // A checkbook still valid is handed out as before.
    app.post(
        &format!("/api/v1/checkbooks/{}/hand-out", id(&fresh)),
        &agent.token,
        json!({"beneficiary": {"reference": "A-TEMPS"}}),
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn expiring_soon_lists_the_handed_out_checkbooks_with_unused_tickets() {
    let app = TestApp::spawn().await;
    let (short, funders) = app.program(&["1.00"], json!({"validity_days": 20})).await;
    app.pay(&short, &funders[0], "10000.00").await.ok(201);
    let (long, funders) = app.program(&["1.00"], json!({"validity_days": 90})).await;
    app.pay(&long, &funders[0], "10000.00").await.ok(201);
    let agent = app.member_of_new("prescriber", "agent").await;
    for program in [&short, &long] {
        app.allocate(program, &agent.org_id.to_string(), 10)
            .await
            .ok(201);
    }
    let issue = |program: &str, reference: Option<&str>| {
        let beneficiary = reference.map(|r| json!({"reference": r}));
        let program = program.to_string();
        let agent = &agent;
        let app = &app;
        async move {
            app.issue(agent, &program, beneficiary)
                .await
                .ok(201)
                .clone()
        }
    };
    let to_call = issue(&short, Some("SANS-EMAIL")).await;
    let with_email = app
        .issue(
            &agent,
            &short,
            Some(json!({"reference": "AVEC-EMAIL", "email": "a@example.org"})),
        )
        .await
        .ok(201)
        .clone();
    let later = issue(&long, Some("PLUS-TARD")).await;
    let stock = issue(&short, None).await;
    let cancelled = issue(&short, Some("ANNULE")).await;
    app.post(
        &format!("/api/v1/checkbooks/{}/cancel", id(&cancelled)),
        &agent.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    let all_used = issue(&short, Some("TOUT-UTILISE")).await;
    let ended = issue(&short, Some("FINI")).await;
    sql(
        &app,
        &format!(
            "UPDATE tickets SET status = 'expired' WHERE checkbook_id = '{}'",
            id(&all_used)
        ),
    )
    .await;
    sql(
        &app,
        &format!(
            "UPDATE checkbooks SET valid_until = current_date - 1 WHERE id = '{}'",
            id(&ended)
        ),
    )
    .await;

    let res = app
        .get("/api/v1/checkbooks?expiring_soon=true", &agent.token)
        .await;
    let mut expected = vec![
        to_call["number"].as_str().unwrap().to_string(),
        with_email["number"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(numbers(res.ok(200)), expected);
    for excluded in [&later, &stock, &cancelled, &all_used, &ended] {
        assert!(!expected.contains(&excluded["number"].as_str().unwrap().to_string()));
    }
    // Without the filter, all of them.
    let all = app.get("/api/v1/checkbooks", &agent.token).await;
    assert_eq!(items(all.ok(200)).len(), 7);
    // Another prescriber's list stays its own.
    let other = app.member_of_new("prescriber", "agent").await;
    assert!(
        items(
            app.get("/api/v1/checkbooks?expiring_soon=true", &other.token)
                .await
                .ok(200)
        )
        .is_empty()
    );
}

#[tokio::test]
async fn a_checkbook_shows_where_its_mail_stands_in_french() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(5).await;
    let agent = &territory.prescriber;
    let without = app
        .issue(
            agent,
            &territory.program,
            Some(json!({"reference": "SANS"})),
        )
        .await
        .ok(201)
        .clone();
    assert!(without["mail"].is_null(), "no mail: {}", without["mail"]);
    let book = app
        .issue(
            agent,
            &territory.program,
            Some(json!({"reference": "AVEC", "email": "b@example.org"})),
        )
        .await
        .ok(201)
        .clone();
    let url = format!("/api/v1/checkbooks/{}", id(&book));
    assert_eq!(book["mail"]["status"], "waiting");
    assert!(book["mail"]["sent_at"].is_null());

    // Sent: when.
    sql(
        &app,
        &format!(
            "UPDATE outbox SET status = 'sent', sent_at = now(), attempts = 1 WHERE related_id = '{}'",
            id(&book)
        ),
    )
    .await;
    let sent = app.get(&url, &agent.token).await;
    assert_eq!(sent.ok(200)["mail"]["status"], "sent");
    assert!(sent.body["mail"]["sent_at"].is_string());
    assert!(sent.body["mail"]["failure"].is_null());
    // In the list too.
    let list = app.get("/api/v1/checkbooks", &agent.token).await;
    let listed = items(list.ok(200));
    let mine = listed.iter().find(|b| b["id"] == book["id"]).unwrap();
    assert_eq!(mine["mail"]["status"], "sent");

    // Sent again, then failed: the newest mail, and why in French.
    app.post(&format!("{url}/send"), &agent.token, json!({}))
        .await
        .ok(202);
    sql(
        &app,
        &format!(
            "UPDATE outbox SET status = 'failed', attempts = 1, last_attempt_at = now(),
                    last_error = 'Connection error: Connection refused (os error 111)'
             WHERE related_id = '{}' AND status = 'waiting'",
            id(&book)
        ),
    )
    .await;
    let failed = app.get(&url, &agent.token).await;
    let mail = &failed.ok(200)["mail"];
    assert_eq!(mail["status"], "failed");
    let failure = mail["failure"].as_str().unwrap();
    assert!(failure.contains("refusé la connexion"), "{failure}");
    assert!(!failure.contains("refused"), "{failure}");
    // A transient failure waiting for its next attempt says when.
    sql(
        &app,
        &format!(
            "UPDATE outbox SET status = 'waiting', next_attempt_at = now() + interval '5 minutes',
                    last_error = 'transient error (421): busy'
             WHERE related_id = '{}' AND status = 'failed'",
            id(&book)
        ),
    )
    .await;
    let waiting = app.get(&url, &agent.token).await;
    let mail = &waiting.ok(200)["mail"];
    assert_eq!(mail["status"], "waiting");
    assert!(mail["next_attempt_at"].is_string());
    assert!(
        mail["failure"]
            .as_str()
            .unwrap()
            .contains("réessayer plus tard")
    );
}
