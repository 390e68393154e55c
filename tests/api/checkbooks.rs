use std::collections::HashSet;

use passnum::codes::{CodeKeys, Serial};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The keys of the app's settings: codes made by the server verify with them.
fn test_keys(app: &TestApp) -> CodeKeys {
    CodeKeys::new(app.settings.ticket_keys()).unwrap()
}

fn tickets(checkbook: &Value) -> Vec<Value> {
    checkbook["tickets"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_checkbook_for_a_beneficiary_holds_signed_tickets_and_moves_the_ledger() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(5).await;
    let res = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "CCAS-2026-0042", "email": "Beneficiaire@Example.org", "birth_year": 1961, "postcode": "70000", "situation": "retired"})),
        )
        .await;
    let book = res.ok(201).clone();
    assert!(
        book["number"].as_str().unwrap().starts_with("CH-20"),
        "{book}"
    );
    assert_eq!(book["status"], "handed_out");
    assert_eq!(book["beneficiary"]["email"], "beneficiaire@example.org");
    let tickets = tickets(&book);
    assert_eq!(tickets.len(), 10);
    let keys = test_keys(&app);
    let mut serials = HashSet::new();
    for ticket in &tickets {
        assert_eq!(ticket["status"], "issued");
        assert_eq!(ticket["value"], "10.00");
        let claim = keys
            .verify(ticket["code"].as_str().unwrap())
            .expect("the code verifies");
        assert_eq!(claim.value_cents, 1000);
        let serial = Serial::parse(ticket["serial"].as_str().unwrap()).expect("the serial parses");
        assert_eq!(claim.serial, serial);
        serials.insert(serial.as_str().to_string());
        assert!(
            ticket["expires_at"].as_str().unwrap().ends_with('Z')
                || ticket["expires_at"].as_str().unwrap().contains("+00:00")
        );
    }
    assert_eq!(serials.len(), 10);
    let operator = app.operator().await;
    let program = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &operator.token,
        )
        .await;
    assert_eq!(program.ok(200)["funding"]["outstanding"], "100.00");
    assert_eq!(program.body["funding"]["available"], "9900.00");
    // Read back: the same checkbook, the same codes.
    let again = app
        .get(
            &format!("/api/v1/checkbooks/{}", book["id"].as_str().unwrap()),
            &territory.prescriber.token,
        )
        .await;
    assert_eq!(again.ok(200)["tickets"], book["tickets"]);
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_checkbook_once() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(10).await;
    let body = json!({"program_id": territory.program, "beneficiary": {"reference": "ML-77"}});
    let send = |key: &'static str, body: Value| {
        app.raw(
            app.client
                .post(format!("{}/api/v1/checkbooks", app.address))
                .bearer_auth(&territory.prescriber.token)
                .header("Idempotency-Key", key)
                .json(&body),
        )
    };
    let first = send("key-1", body.clone()).await;
    let second = send("key-1", body.clone()).await;
    assert_eq!(first.ok(201)["id"], second.ok(201)["id"]);
    assert_eq!(first.body, second.body);
    let mut other = body.clone();
    other["beneficiary"]["reference"] = json!("ML-78");
    send("key-1", other)
        .await
        .problem(422, "idempotency_key_reused");

    // Ten concurrent retries of one request: one checkbook.
    let tasks: Vec<_> = (0..10).map(|_| send("key-2", body.clone())).collect();
    let answers = futures_util::future::join_all(tasks).await;
    let ids: HashSet<String> = answers
        .iter()
        .map(|r| r.ok(201)["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "one checkbook for one key");
    let list = app
        .get("/api/v1/checkbooks", &territory.prescriber.token)
        .await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 2);
    let operator = app.operator().await;
    let program = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &operator.token,
        )
        .await;
    assert_eq!(
        program.ok(200)["funding"]["outstanding"],
        "200.00",
        "the ledger moved once per checkbook"
    );
    let bad_key = app
        .raw(
            app.client
                .post(format!("{}/api/v1/checkbooks", app.address))
                .bearer_auth(&territory.prescriber.token)
                .header("Idempotency-Key", "")
                .json(&body),
        )
        .await;
    bad_key.problem(400, "invalid_idempotency_key");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn stock_checkbooks_are_handed_out_later() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(3).await;
    let res = app
        .issue(&territory.prescriber, &territory.program, None)
        .await;
    let book = res.ok(201).clone();
    assert_eq!(book["status"], "stock");
    assert!(book["beneficiary"].is_null());
    assert!(tickets(&book).iter().all(|t| t["status"] == "stock"));
    let id = book["id"].as_str().unwrap();
    let path = format!("/api/v1/checkbooks/{id}/hand-out");
    let res = app
        .post(
            &path,
            &territory.prescriber.token,
            json!({"beneficiary": {"reference": "FT-1", "situation": "job_seeker"}}),
        )
        .await;
    let handed = res.ok(200);
    assert_eq!(handed["status"], "handed_out");
    assert!(tickets(handed).iter().all(|t| t["status"] == "issued"));
    assert_eq!(handed["beneficiary"]["situation"], "job_seeker");
    app.post(
        &path,
        &territory.prescriber.token,
        json!({"beneficiary": {"reference": "FT-2"}}),
    )
    .await
    .problem(409, "already_handed_out");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn beneficiary_data_is_checked_and_minimal() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(3).await;
    let cases = [
        (json!({"reference": ""}), "beneficiary.reference"),
        (
            json!({"reference": "x", "email": "nope"}),
            "beneficiary.email",
        ),
        (
            json!({"reference": "x", "birth_year": 1800}),
            "beneficiary.birth_year",
        ),
        (
            json!({"reference": "x", "postcode": "7000"}),
            "beneficiary.postcode",
        ),
        (
            json!({"reference": "x", "situation": "astronaut"}),
            "beneficiary.situation",
        ),
        (
            json!({"reference": "x", "name": "Jean Dupont"}),
            "beneficiary.name",
        ),
    ];
    for (beneficiary, field) in cases {
        let res = app
            .issue(
                &territory.prescriber,
                &territory.program,
                Some(beneficiary.clone()),
            )
            .await;
        assert_eq!(res.status.as_u16(), 422, "{beneficiary}: {}", res.text);
        assert_eq!(
            res.problem(422, "validation_failed")["field"],
            field,
            "{beneficiary}"
        );
    }
    let list = app
        .get("/api/v1/checkbooks", &territory.prescriber.token)
        .await;
    assert!(
        list.ok(200)["items"].as_array().unwrap().is_empty(),
        "nothing issued by refused requests"
    );
    let beneficiary = passnum::checkbooks::Beneficiary::parse(
        "CCAS-1",
        Some("a@b.fr"),
        None,
        None,
        None,
        chrono::Utc::now().date_naive(),
    )
    .unwrap();
    assert!(
        !format!("{beneficiary:?}").contains("CCAS-1"),
        "never printed in logs"
    );
}

#[tokio::test]
async fn a_print_run_issues_many_stock_checkbooks_in_one_request() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(100).await;
    let res = app
        .post(
            "/api/v1/print-runs",
            &territory.prescriber.token,
            json!({"program_id": territory.program, "checkbooks": 50}),
        )
        .await;
    let run = res.ok(201).clone();
    assert_eq!(run["tickets"], 500);
    let books = run["checkbooks"].as_array().unwrap();
    assert_eq!(books.len(), 50);
    let numbers: HashSet<&str> = books
        .iter()
        .map(|b| b["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), 50);
    let one = app
        .get(
            &format!("/api/v1/checkbooks/{}", books[7]["id"].as_str().unwrap()),
            &territory.prescriber.token,
        )
        .await;
    assert_eq!(one.ok(200)["status"], "stock");
    assert_eq!(one.body["print_run_id"], run["id"]);
    let operator = app.operator().await;
    let program = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &operator.token,
        )
        .await;
    assert_eq!(program.ok(200)["funding"]["outstanding"], "5000.00");
    // Over the allocation: nothing at all is issued.
    let res = app
        .post(
            "/api/v1/print-runs",
            &territory.prescriber.token,
            json!({"program_id": territory.program, "checkbooks": 51}),
        )
        .await;
    res.problem(409, "allocation_exhausted");
    let res = app
        .post(
            "/api/v1/print-runs",
            &territory.prescriber.token,
            json!({"program_id": territory.program, "checkbooks": 0}),
        )
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "checkbooks");
    let pdf = app
        .raw(
            app.client
                .get(format!(
                    "{}/api/v1/print-runs/{}/pdf",
                    app.address,
                    run["id"].as_str().unwrap()
                ))
                .bearer_auth(&territory.prescriber.token),
        )
        .await;
    assert_eq!(pdf.status.as_u16(), 200);
    assert_eq!(pdf.content_type(), "application/pdf");
    assert!(pdf.text.starts_with("%PDF"));
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn cancelling_returns_the_unused_value_to_the_program() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(3).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "R"})),
        )
        .await
        .ok(201)
        .clone();
    let id = book["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/api/v1/checkbooks/{id}/cancel"),
            &territory.prescriber.token,
            json!({"reason": "volé"}),
        )
        .await;
    let cancelled = res.ok(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "volé");
    assert!(
        tickets(cancelled)
            .iter()
            .all(|t| t["status"] == "cancelled")
    );
    let operator = app.operator().await;
    let program = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &operator.token,
        )
        .await;
    assert_eq!(program.ok(200)["funding"]["outstanding"], "0.00");
    assert_eq!(program.body["funding"]["available"], "10000.00");
    app.post(
        &format!("/api/v1/checkbooks/{id}/cancel"),
        &territory.prescriber.token,
        json!({"reason": "again"}),
    )
    .await
    .problem(409, "checkbook_cancelled");
    // One entry in the trail, with the reason, the refused second try not written.
    let trail = app
        .get(&format!("/api/v1/audit?entity_id={id}"), &operator.token)
        .await
        .ok(200)["items"]
        .clone();
    assert_eq!(trail.as_array().unwrap().len(), 1, "{trail}");
    assert_eq!(trail[0]["action"], "checkbook.cancelled");
    assert_eq!(trail[0]["reason"], "volé");
    assert_eq!(trail[0]["after"]["value_returned"], "100.00");
    assert_eq!(
        trail[0]["actor"]["email"],
        territory.prescriber.email.as_str()
    );
    app.post(
        &format!("/api/v1/checkbooks/{id}/hand-out"),
        &territory.prescriber.token,
        json!({"beneficiary": {"reference": "x"}}),
    )
    .await
    .problem(409, "checkbook_cancelled");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn only_the_prescribers_own_checkbooks_are_visible() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(3).await;
    let book = app
        .issue(&territory.prescriber, &territory.program, None)
        .await
        .ok(201)
        .clone();
    let id = book["id"].as_str().unwrap();
    let ticket = book["tickets"][0]["id"].as_str().unwrap();
    let other = app.member_of_new("prescriber", "admin").await;
    app.allocate(&territory.program, &other.org_id.to_string(), 1)
        .await
        .ok(201);
    for path in [
        format!("/api/v1/checkbooks/{id}"),
        format!("/api/v1/checkbooks/{id}/pdf"),
        format!("/api/v1/tickets/{ticket}/qr.svg"),
        format!("/api/v1/tickets/{ticket}/qr.png"),
    ] {
        app.get(&path, &other.token).await.problem(404, "not_found");
    }
    app.post(
        &format!("/api/v1/checkbooks/{id}/cancel"),
        &other.token,
        json!({"reason": "x"}),
    )
    .await
    .problem(404, "not_found");
    app.post(
        &format!("/api/v1/checkbooks/{id}/hand-out"),
        &other.token,
        json!({"beneficiary": {"reference": "x"}}),
    )
    .await
    .problem(404, "not_found");
    let list = app.get("/api/v1/checkbooks", &other.token).await;
    assert!(list.ok(200)["items"].as_array().unwrap().is_empty());
    // A colleague of the same prescriber sees it; so does the operator.
    let colleague = app
        .user_in(&territory.prescriber.org_id.to_string(), "agent")
        .await;
    app.get(&format!("/api/v1/checkbooks/{id}"), &colleague.token)
        .await
        .ok(200);
    let operator = app.operator().await;
    app.get(&format!("/api/v1/checkbooks/{id}"), &operator.token)
        .await
        .ok(200);
    // Sites see no checkbook.
    let site = app.member_of_new("site", "agent").await;
    app.get("/api/v1/checkbooks", &site.token)
        .await
        .problem(403, "forbidden");
    app.get(&format!("/api/v1/checkbooks/{id}"), &site.token)
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn qr_codes_and_the_pdf_are_served() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(3).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "R", "postcode": "70000"})),
        )
        .await
        .ok(201)
        .clone();
    let ticket = book["tickets"][0]["id"].as_str().unwrap();
    let get = |path: String| {
        app.raw(
            app.client
                .get(format!("{}{path}", app.address))
                .bearer_auth(&territory.prescriber.token),
        )
    };
    let svg = get(format!("/api/v1/tickets/{ticket}/qr.svg")).await;
    assert_eq!(svg.status.as_u16(), 200);
    assert_eq!(svg.content_type(), "image/svg+xml");
    assert!(svg.text.contains("<svg"));
    let png = app
        .client
        .get(format!("{}/api/v1/tickets/{ticket}/qr.png", app.address))
        .bearer_auth(&territory.prescriber.token)
        .send()
        .await
        .unwrap();
    assert_eq!(png.status().as_u16(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");
    let pdf = get(format!(
        "/api/v1/checkbooks/{}/pdf",
        book["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(pdf.status.as_u16(), 200);
    assert_eq!(pdf.content_type(), "application/pdf");
}

/// Runs a tool that `scripts/install-test-tools` installs; fails the test with a
/// clear message when it is missing.
fn tool(name: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is missing ({e}): run scripts/install-test-tools"))
}

#[tokio::test]
async fn the_printed_checkbook_scans_back_to_its_tickets() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(3).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "R-9", "postcode": "70000"})),
        )
        .await
        .ok(201)
        .clone();
    let pdf = app
        .client
        .get(format!(
            "{}/api/v1/checkbooks/{}/pdf",
            app.address,
            book["id"].as_str().unwrap()
        ))
        .bearer_auth(&territory.prescriber.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("passnum-pdf-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("checkbook.pdf");
    std::fs::write(&file, &pdf).unwrap();
    // zbar now and then misses one symbol at one scale (a checkbook whose ten codes
    // all decode at 200, 400 and 600 dpi lost one at 300): each code must be read back
    // from the PDF at one of two scales.
    let mut decoded: HashSet<String> = HashSet::new();
    for dpi in ["300", "200"] {
        let prefix = dir.join(format!("page-{dpi}"));
        let out = tool(
            "pdftoppm",
            &[
                "-r",
                dpi,
                "-png",
                file.to_str().unwrap(),
                prefix.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "pdftoppm: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pages: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path().to_string_lossy().into_owned())
            .filter(|p| p.ends_with(".png") && p.contains(&format!("page-{dpi}")))
            .collect();
        pages.sort();
        let mut args = vec!["--raw", "-q"];
        args.extend(pages.iter().map(String::as_str));
        let out = tool("zbarimg", &args);
        decoded.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    let text = tool("pdftotext", &[file.to_str().unwrap(), "-"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for ticket in tickets(&book) {
        let code = ticket["code"].as_str().unwrap();
        assert!(
            decoded.contains(code),
            "QR code {code} not found among {decoded:?}"
        );
        let serial = ticket["serial"].as_str().unwrap();
        assert!(text.contains(serial), "serial {serial} not in the PDF text");
    }
    assert!(text.contains(&book["number"].as_str().unwrap().to_string()));
    assert!(text.contains("10,00"), "French amounts");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Makes the next `times` inserts of tickets fail as two random serials meeting
/// would (the unique violation of `tickets_serial_key`). A sequence counts them: it
/// does not roll back with the failed issuance.
async fn collide_serials(app: &TestApp, times: i64) {
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.connect().await;
    for sql in [
        "CREATE SEQUENCE test_serial_collisions".to_string(),
        format!(
            "CREATE FUNCTION test_collide() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF nextval('test_serial_collisions') <= {times} THEN
                 RAISE unique_violation USING CONSTRAINT = 'tickets_serial_key',
                   MESSAGE = 'duplicate key value violates unique constraint \"tickets_serial_key\"';
               END IF;
               RETURN NULL;
             END $$"
        ),
        "CREATE TRIGGER test_collide BEFORE INSERT ON tickets
         FOR EACH STATEMENT EXECUTE FUNCTION test_collide()"
            .to_string(),
    ] {
        diesel::sql_query(sql).execute(&mut conn).await.unwrap();
    }
}

async fn collisions_seen(app: &TestApp) -> i64 {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last_value: i64,
    }
    let mut conn = app.db.connect().await;
    diesel::sql_query("SELECT last_value FROM test_serial_collisions")
        .get_result::<Seen>(&mut conn)
        .await
        .unwrap()
        .last_value
}

/// Two random serials meeting is the use case's `SerialCollision`, which the
/// handler retries with new serials (matching the variant, not a string): the
/// prescriber gets the checkbook, and nothing of the failed attempts stays.
#[tokio::test]
async fn a_serial_collision_is_drawn_again() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(5).await;
    collide_serials(&app, 2).await;
    let book = app
        .issue(&territory.prescriber, &territory.program, None)
        .await
        .ok(201)
        .clone();
    assert_eq!(tickets(&book).len(), 10);
    // Two attempts collided, the third one issued.
    assert_eq!(collisions_seen(&app).await, 3);
    let list = app
        .get("/api/v1/checkbooks", &territory.prescriber.token)
        .await
        .ok(200)
        .clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    app.assert_ledger_invariants().await;
}

/// Three collisions in a row: the answer is 409 `serial_collision` in French, and
/// nothing was issued.
#[tokio::test]
async fn serial_collisions_three_times_in_a_row_are_a_409() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(5).await;
    collide_serials(&app, 3).await;
    let res = app
        .issue(&territory.prescriber, &territory.program, None)
        .await;
    let problem = res.problem(409, "serial_collision");
    assert_eq!(
        problem["detail"],
        "Deux numéros de chèque tirés au hasard se sont rencontrés ; réessayez."
    );
    assert_eq!(collisions_seen(&app).await, 3);
    let list = app
        .get("/api/v1/checkbooks", &territory.prescriber.token)
        .await
        .ok(200)
        .clone();
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    app.assert_ledger_invariants().await;
}
