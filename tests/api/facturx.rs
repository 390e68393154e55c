//! Factur-X (issue 17, point 4): a funder's bill downloaded through the API is a
//! PDF/A-3b invoice whose `factur-x.xml` the `factur-x` package (installed by
//! `scripts/install-validators`) finds, validates against its EN 16931 XSD and reads:
//! the operator as seller, the funder as buyer with its SIRET, its Chorus Pro service
//! code and engagement number, and the amounts the PDF prints.

use chrono::Days;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::validators::facturx_check;

async fn pdf_bytes(app: &TestApp, token: &str, statement: &str) -> Vec<u8> {
    let res = app
        .client
        .get(format!("{}/api/v1/statements/{statement}/pdf", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_public_funders_bill_is_a_factur_x_invoice_with_its_chorus_references() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (program, funders) = app
        .program(&["0.60", "0.40"], json!({"funder_fee_rate": "0.04"}))
        .await;
    app.pay(&program, &funders[0], "6000.00").await.ok(201);
    app.pay(&program, &funders[1], "4000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 1)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "FX-1"})))
        .await
        .ok(201)
        .clone();
    let site = app
        .labelled_site_agent(json!({"siret": "73282932000074"}))
        .await;
    for ticket in &book["tickets"].as_array().unwrap()[..3] {
        app.redeem(&site, ticket).await.ok(201);
    }
    let day = passnum::domain::french_date(chrono::Utc::now()) - Days::new(40);
    crate::settlements::backdate(&app, day).await;
    let statements = crate::settlements::settle_day(&app, &operator, day).await;

    // The operator records the public funder's references.
    let funder = &funders[0];
    let updated = app
        .patch(
            &format!("/api/v1/organizations/{funder}"),
            &operator.token,
            json!({"chorus_service_code": "SERVICE-FACTURES-70", "siret": "22700001900017"}),
        )
        .await;
    assert_eq!(
        updated.ok(200)["chorus_service_code"],
        "SERVICE-FACTURES-70"
    );
    let line = app
        .patch(
            &format!("/api/v1/programs/{program}/funders/{funder}"),
            &operator.token,
            json!({"engagement_number": " EJ-2026-0042 "}),
        )
        .await;
    assert_eq!(
        line.ok(200).clone(),
        json!({"program_id": program, "organization_id": funder, "share": "0.6000", "engagement_number": "EJ-2026-0042"})
    );

    // Renamed after the settlement: the bill still finds its program.
    app.patch(
        &format!("/api/v1/programs/{program}"),
        &operator.token,
        json!({"name": "Pass Numérique renommé"}),
    )
    .await
    .ok(200);
    let bill = statements
        .iter()
        .find(|s| s["kind"] == "funder_bill" && s["organization_id"] == funder.as_str())
        .unwrap();
    let admin = app.user_in(funder, "admin").await;
    let pdf = pdf_bytes(&app, &admin.token, bill["id"].as_str().unwrap()).await;
    let found = facturx_check(&pdf).unwrap_or_else(|e| panic!("factur-x refused it: {e}"));
    assert_eq!(found["file_name"], "factur-x.xml");
    assert_eq!(found["level"], "en16931");
    assert_eq!(found["type_code"], "380");
    assert_eq!(found["number"], bill["number"]);
    assert_eq!(found["seller_siren"], app.settings.operator.siren.as_str());
    assert_eq!(
        found["seller_vat"],
        app.settings.operator.vat_number.as_str()
    );
    assert_eq!(found["buyer_siret"], "22700001900017");
    assert_eq!(found["buyer_reference"], "SERVICE-FACTURES-70");
    assert_eq!(found["order_reference"], "EJ-2026-0042");
    assert_eq!(
        found["attachments"],
        json!([{"name": "factur-x.xml", "relationship": "/Data"}])
    );
    assert_eq!(found["pdfa_part"], "3");
    assert_eq!(found["pdfa_conformance"], "B");
    assert_eq!(found["fx_level"], "EN 16931");

    // The XML's amounts are the statement's and the PDF prints them.
    let amount = |key: &str| found[key].as_str().unwrap().parse::<Decimal>().unwrap();
    let total: Decimal = bill["total"].as_str().unwrap().parse().unwrap();
    assert_eq!(amount("grand_total"), total);
    assert!(amount("due") > Decimal::ZERO, "the fee is due");
    assert_eq!(amount("prepaid") + amount("due"), total);
    let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = squeeze(&crate::prescribers::pdf_text(&pdf));
    for key in ["grand_total", "prepaid", "due"] {
        let printed = squeeze(&passnum::french::euros(amount(key)));
        assert!(text.contains(&printed), "{key} {printed} not in {text}");
    }

    // A funder without references: no buyer reference, still valid.
    let other = statements
        .iter()
        .find(|s| s["kind"] == "funder_bill" && s["organization_id"] == funders[1].as_str())
        .unwrap();
    let pdf = pdf_bytes(&app, &operator.token, other["id"].as_str().unwrap()).await;
    let found = facturx_check(&pdf).unwrap();
    assert_eq!(found["buyer_reference"], Value::Null);
    assert_eq!(found["order_reference"], Value::Null);

    // A site's payout is no invoice.
    let payout = statements
        .iter()
        .find(|s| s["kind"] == "site_payout")
        .unwrap();
    let pdf = pdf_bytes(&app, &operator.token, payout["id"].as_str().unwrap()).await;
    assert!(facturx_check(&pdf).is_err());

    // The service code is a funder's, set by the operator.
    app.patch(
        &format!("/api/v1/organizations/{}", site.org_id),
        &operator.token,
        json!({"chorus_service_code": "X"}),
    )
    .await
    .problem(422, "validation_failed");
    app.patch(
        &format!("/api/v1/organizations/{funder}"),
        &admin.token,
        json!({"chorus_service_code": "AUTRE"}),
    )
    .await
    .problem(403, "forbidden");
}

#[tokio::test]
async fn the_engagement_number_is_set_through_the_api_audited_and_on_the_credit_note() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (program, funders) = app.program(&["1.00"], json!({})).await;
    let funder = &funders[0];
    app.pay(&program, funder, "10000.00").await.ok(201);
    let line = format!("/api/v1/programs/{program}/funders/{funder}");
    let set = |value: Value| app.patch(&line, &operator.token, json!({"engagement_number": value}));

    // Set, shown on the program, written once to the audit trail (the same value
    // again writes nothing), then cleared by null.
    assert_eq!(
        set(json!("EJ-1")).await.ok(200)["engagement_number"],
        "EJ-1"
    );
    let shown = app
        .get(&format!("/api/v1/programs/{program}"), &operator.token)
        .await;
    assert_eq!(shown.ok(200)["funders"][0]["engagement_number"], "EJ-1");
    set(json!("EJ-1")).await.ok(200);
    assert_eq!(
        set(Value::Null).await.ok(200)["engagement_number"],
        Value::Null
    );
    assert_eq!(
        set(json!("  ")).await.ok(200)["engagement_number"],
        Value::Null
    );
    let trail = app
        .get(
            &format!("/api/v1/audit?entity_id={program}"),
            &operator.token,
        )
        .await
        .ok(200)["items"]
        .clone();
    let set_entries: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "program.engagement_number_set")
        .collect();
    assert_eq!(set_entries.len(), 2, "{trail}");
    assert_eq!(
        set_entries[0]["before"],
        json!({"funder_id": funder, "engagement_number": "EJ-1"})
    );
    assert_eq!(
        set_entries[1]["after"],
        json!({"funder_id": funder, "engagement_number": "EJ-1"})
    );
    assert_eq!(set_entries[1]["actor"]["email"], operator.email.as_str());

    // Refusals write nothing.
    let long = "E".repeat(51);
    let refused = set(json!(long)).await;
    assert_eq!(
        refused.problem(422, "validation_failed")["field"],
        "engagement_number"
    );
    app.patch(&line, &operator.token, json!({}))
        .await
        .problem(422, "validation_failed");
    let stranger = app.organization("funder", json!({})).await;
    app.patch(
        &format!(
            "/api/v1/programs/{program}/funders/{}",
            stranger["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"engagement_number": "EJ-2"}),
    )
    .await
    .problem(404, "not_found");
    app.patch(
        &format!("/api/v1/programs/{}/funders/{funder}", uuid::Uuid::new_v4()),
        &operator.token,
        json!({"engagement_number": "EJ-2"}),
    )
    .await
    .problem(404, "not_found");
    let admin = app.user_in(funder, "admin").await;
    app.patch(&line, &admin.token, json!({"engagement_number": "EJ-2"}))
        .await
        .problem(403, "forbidden");

    // Closing gives the unused money back as a credit note: a Factur-X credit note
    // (381) carrying the program's engagement number and the funder's service code.
    set(json!("EJ-2026-0099")).await.ok(200);
    app.patch(
        &format!("/api/v1/organizations/{funder}"),
        &operator.token,
        json!({"chorus_service_code": "SERVICE-70"}),
    )
    .await
    .ok(200);
    let closed = app
        .post(
            &format!("/api/v1/programs/{program}/close"),
            &operator.token,
            json!({}),
        )
        .await;
    let note = closed.ok(200)["credit_notes"][0].clone();
    assert_eq!(note["kind"], "credit_note");
    let pdf = pdf_bytes(&app, &admin.token, note["id"].as_str().unwrap()).await;
    let found = facturx_check(&pdf).unwrap_or_else(|e| panic!("factur-x refused it: {e}"));
    assert_eq!(found["type_code"], "381");
    assert_eq!(found["number"], note["number"]);
    assert_eq!(found["order_reference"], "EJ-2026-0099");
    assert_eq!(found["buyer_reference"], "SERVICE-70");
    let total: Decimal = note["total"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        found["grand_total"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        total
    );

    // Still settable once the program is closed (a reference, not money).
    set(json!("EJ-2026-0100")).await.ok(200);
}
