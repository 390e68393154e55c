//! `GET /lookup?q=` (issue 13, point 7): the operator finds a checkbook or a ticket by
//! its number, its serial (with or without dashes) or the end of its serial, with its
//! history — tickets, redemptions (site, reversed), cancellation, mails, audit — and
//! never a code, a full serial, a 500 on junk, nor an answer to anyone else.

use passnum::audit::{self, Actor as AuditActor, Change, Entity};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, Response, TestApp};

async fn lookup(app: &TestApp, actor: &Actor, q: &str) -> Response {
    app.raw(
        app.client
            .get(format!("{}/api/v1/lookup", app.address))
            .bearer_auth(&actor.token)
            .query(&[("q", q)]),
    )
    .await
}

fn the_one(answer: &Value) -> &Value {
    let books = answer["checkbooks"].as_array().expect("checkbooks");
    assert_eq!(books.len(), 1, "{answer:#}");
    &books[0]
}

#[tokio::test]
async fn the_operator_looks_up_a_checkbook_by_number_serial_or_hint_with_its_history() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(3).await;
    let book = app
        .issue(
            &t.prescriber,
            &t.program,
            Some(json!({"reference": "B-1", "email": "personne@example.org"})),
        )
        .await
        .ok(201)
        .clone();
    let other = app
        .issue(&t.prescriber, &t.program, Some(json!({"reference": "B-2"})))
        .await
        .ok(201)
        .clone();
    let site = app
        .labelled_site_agent(json!({"name": "Médiathèque de Vesoul"}))
        .await;
    let tickets = book["tickets"].as_array().unwrap();
    // A scan undone, then the ticket scanned again.
    let first = app.redeem(&site, &tickets[0]).await.ok(201).clone();
    app.post(
        &format!(
            "/api/v1/redemptions/{}/reverse",
            first["id"].as_str().unwrap()
        ),
        &site.token,
        json!({}),
    )
    .await
    .ok(200);
    app.redeem(&site, &tickets[0]).await.ok(201);
    // The other checkbook is cancelled.
    app.post(
        &format!(
            "/api/v1/checkbooks/{}/cancel",
            other["id"].as_str().unwrap()
        ),
        &t.prescriber.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    // A correction recorded on the first checkbook.
    let book_id: Uuid = book["id"].as_str().unwrap().parse().unwrap();
    let mut conn = app.db.connect().await;
    audit::record(
        &mut conn,
        Change {
            actor: AuditActor::User {
                user_id: t.prescriber.user_id,
                organization_id: t.prescriber.org_id,
            },
            organization_id: Some(t.prescriber.org_id),
            entity: Entity::Checkbook,
            entity_id: book_id,
            action: "checkbook.updated",
            before: Some(json!({"email": "modifié"})),
            after: Some(json!({"email": "modifié"})),
            reason: Some("adresse mal écrite".into()),
        },
    )
    .await
    .unwrap();

    // By number, as typed on the phone: lowercase, spaces.
    let number = book["number"].as_str().unwrap();
    let typed = number.to_lowercase().replace('-', " ");
    let res = lookup(&app, &operator, &typed).await;
    let answer = res.ok(200);
    assert_eq!(answer["kind"], "checkbook_number");
    let found = the_one(answer);
    assert_eq!(found["number"], number);
    assert_eq!(found["status"], "handed_out");
    assert_eq!(found["program"]["id"], t.program.as_str());
    assert_eq!(found["prescriber"]["id"], t.prescriber.org_id.to_string());
    let shown = found["tickets"].as_array().unwrap();
    assert_eq!(shown.len(), 10);
    assert!(shown.iter().all(|t| t["matched"] == false));
    assert_eq!(shown[0]["status"], "redeemed");
    assert_eq!(shown[1]["status"], "issued");
    let scans = shown[0]["redemptions"].as_array().unwrap();
    assert_eq!(
        scans
            .iter()
            .map(|r| r["status"].clone())
            .collect::<Vec<_>>(),
        vec![json!("reversed"), json!("redeemed")]
    );
    assert_eq!(scans[0]["site"]["name"], "Médiathèque de Vesoul");
    assert!(scans[0]["reversed_at"].is_string());
    assert_eq!(scans[1]["amount_payable"], "10.00");
    let mails = found["mails"].as_array().unwrap();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0]["kind"], "checkbook");
    assert_eq!(mails[0]["recipient"], "personne@example.org");
    assert_eq!(mails[0]["status"], "waiting");
    let entries = found["audit"].as_array().unwrap();
    let entry = entries
        .iter()
        .find(|e| e["action"] == "checkbook.updated")
        .unwrap_or_else(|| panic!("{entries:#?}"));
    assert_eq!(entry["actor"], t.prescriber.email.as_str());
    assert_eq!(entry["reason"], "adresse mal écrite");
    // Support never reads a code, a full serial or the beneficiary.
    for ticket in tickets {
        let canonical = ticket["serial"].as_str().unwrap().replace('-', "");
        assert!(!res.text.contains(&canonical), "a full serial leaked");
        assert!(!res.text.contains(ticket["code"].as_str().unwrap()));
    }
    assert!(
        !res.text.contains("B-1"),
        "the beneficiary's reference leaked"
    );

    // By serial, as printed (dashes), without dashes, in lowercase: the ticket is marked.
    let serial = tickets[3]["serial"].as_str().unwrap();
    for typed in [
        serial.to_string(),
        serial.replace('-', ""),
        serial.to_lowercase(),
    ] {
        let answer = lookup(&app, &operator, &typed).await.ok(200).clone();
        assert_eq!(answer["kind"], "serial", "{typed}");
        let found = the_one(&answer);
        assert_eq!(found["id"], book["id"]);
        let marked: Vec<_> = found["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["matched"] == true)
            .collect();
        assert_eq!(marked.len(), 1, "{typed}");
        assert_eq!(marked[0]["id"], tickets[3]["id"]);
    }

    // By the hint everyone sees (its last four symbols), or a longer end.
    let hint = tickets[5]["serial_hint"].as_str().unwrap();
    let compact = serial.replace('-', "");
    for (typed, ticket) in [
        (hint.to_string(), &tickets[5]),
        (compact[4..].to_string(), &tickets[3]),
    ] {
        let answer = lookup(&app, &operator, &typed).await.ok(200).clone();
        assert_eq!(answer["kind"], "serial_end", "{typed}");
        let found = answer["checkbooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == book["id"])
            .unwrap_or_else(|| panic!("{typed}: {answer:#}"));
        assert!(
            found["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["id"] == ticket["id"] && t["matched"] == true),
            "{typed}"
        );
    }

    // The cancelled checkbook, with its reason.
    let answer = lookup(&app, &operator, other["number"].as_str().unwrap())
        .await
        .ok(200)
        .clone();
    let found = the_one(&answer);
    assert_eq!(found["status"], "cancelled");
    assert_eq!(found["cancel_reason"], "perdu");
    assert!(found["cancelled_at"].is_string());
    assert!(
        found["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "cancelled")
    );

    // Nothing of that number: an empty answer, not an error.
    let answer = lookup(&app, &operator, "CH-1999-000001")
        .await
        .ok(200)
        .clone();
    assert_eq!(answer["checkbooks"], json!([]));
    assert_eq!(answer["more"], false);
}

#[tokio::test]
async fn a_lookup_refuses_junk_in_french_and_answers_only_the_operator() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(1).await;
    let book = app
        .issue(&t.prescriber, &t.program, Some(json!({"reference": "J-1"})))
        .await
        .ok(201)
        .clone();

    // A serial with one symbol changed: the check symbol catches it.
    let serial = book["tickets"][0]["serial"]
        .as_str()
        .unwrap()
        .replace('-', "");
    let mut symbols: Vec<char> = serial.chars().collect();
    symbols[0] = if symbols[0] == '2' { '3' } else { '2' };
    let wrong: String = symbols.into_iter().collect();
    let res = lookup(&app, &operator, &wrong).await;
    let problem = res.problem(422, "validation_failed");
    assert_eq!(problem["field"], "q");
    assert!(
        problem["detail"].as_str().unwrap().contains("mal recopié"),
        "{problem}"
    );

    for junk in [
        "",
        "   ",
        "ZA",
        "'; DROP TABLE tickets; --",
        "%_%_",
        "\u{0}\u{0}\u{0}\u{0}",
        "CH-2026-",
        "CH-2026-99999999999999999999",
        "😀😀😀😀",
        &"A".repeat(5000),
    ] {
        let res = lookup(&app, &operator, junk).await;
        let problem = res.problem(422, "validation_failed");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("numéro de chéquier"),
            "{junk:?}: {problem}"
        );
    }
    let res = app.get("/api/v1/lookup", &operator.token).await;
    res.problem(422, "validation_failed");

    // Only the operator: others get 403, and no token 401.
    for actor in [
        t.prescriber.clone(),
        app.member_of_new("funder", "admin").await,
        app.labelled_site_agent(json!({})).await,
    ] {
        lookup(&app, &actor, book["number"].as_str().unwrap())
            .await
            .problem(403, "forbidden");
    }
    let res = app
        .raw(
            app.client
                .get(format!("{}/api/v1/lookup", app.address))
                .query(&[("q", "2ZAT")]),
        )
        .await;
    res.problem(401, "unauthenticated");
}
