//! Program statistics: exact figures for the operator and the funders, and each
//! prescriber and site restricted to its own part.

use chrono::{Datelike, Days, Utc};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// A site agent whose site holds an active label.
pub async fn labelled_site(app: &TestApp) -> Actor {
    let operator = app.operator().await;
    let site = app.organization("site", json!({})).await;
    let id = site["id"].as_str().unwrap();
    let today = passnum::domain::french_date(Utc::now());
    app.post(
        &format!("/api/v1/sites/{id}/label"),
        &operator.token,
        json!({"valid_from": today - Days::new(100), "valid_until": today + Days::new(365)}),
    )
    .await
    .ok(200);
    app.user_in(id, "agent").await
}

pub async fn redeem(app: &TestApp, site: &Actor, ticket: &Value) -> String {
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&site.token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({"code": ticket["code"]})),
    )
    .await
    .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn tickets(book: &Value) -> Vec<Value> {
    book["tickets"].as_array().unwrap().clone()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// Everything the statistics tell apart, in one program of 5-ticket checkbooks at
/// 10.00 with a 4 % commission:
/// - prescriber 1: A (born 20 years ago, job seeker, 70000: 2 tickets used at site 1,
///   a third redeemed at site 2 then reversed), B (50 years, retired, 25000: 1 used at
///   site 1), S (stock), X (30 years, employed, no postcode: 1 used at site 1, then
///   cancelled);
/// - prescriber 2: C (70 years, job seeker, 70100: 2 used at site 2), D (nothing
///   given: expired unused);
/// - A's first ticket and C's first were redeemed 40 days ago, on a day since settled.
struct World {
    program: String,
    funder: Actor,
    p1: Actor,
    p2: Actor,
    site1: Actor,
    site2: Actor,
    settled_month: String,
    this_month: String,
}

async fn world(app: &TestApp) -> World {
    let operator = app.operator().await;
    let (program, funders) = app
        .program(
            &["0.60", "0.40"],
            json!({"tickets_per_checkbook": 5, "commission_rate": "0.04"}),
        )
        .await;
    app.pay(&program, &funders[0], "6000.00").await.ok(201);
    app.pay(&program, &funders[1], "4000.00").await.ok(201);
    let funder = app.user_in(&funders[0], "agent").await;
    let p1 = app.member_of_new("prescriber", "agent").await;
    let p2 = app.member_of_new("prescriber", "agent").await;
    for p in [&p1, &p2] {
        app.allocate(&program, &p.org_id.to_string(), 10)
            .await
            .ok(201);
    }
    let year = passnum::domain::french_date(Utc::now()).year();
    let issue = async |p: &Actor, beneficiary: Option<Value>| {
        app.issue(p, &program, beneficiary).await.ok(201).clone()
    };
    let a = issue(
        &p1,
        Some(json!({"reference": "A", "birth_year": year - 20, "situation": "job_seeker", "postcode": "70000"})),
    )
    .await;
    let b = issue(
        &p1,
        Some(json!({"reference": "B", "birth_year": year - 50, "situation": "retired", "postcode": "25000"})),
    )
    .await;
    let _s = issue(&p1, None).await;
    let x_book = issue(
        &p1,
        Some(json!({"reference": "X", "birth_year": year - 30, "situation": "employed"})),
    )
    .await;
    let c = issue(
        &p2,
        Some(json!({"reference": "C", "birth_year": year - 70, "situation": "job_seeker", "postcode": "70100"})),
    )
    .await;
    let d = issue(&p2, Some(json!({"reference": "D"}))).await;
    let (a, b, x, c) = (tickets(&a), tickets(&b), tickets(&x_book), tickets(&c));

    let (site1, site2) = (labelled_site(app).await, labelled_site(app).await);
    let a0 = redeem(app, &site1, &a[0]).await;
    redeem(app, &site1, &a[1]).await;
    redeem(app, &site1, &b[0]).await;
    redeem(app, &site1, &x[0]).await;
    let c0 = redeem(app, &site2, &c[0]).await;
    redeem(app, &site2, &c[1]).await;
    let mistaken = redeem(app, &site2, &a[2]).await;
    app.post(
        &format!("/api/v1/redemptions/{mistaken}/reverse"),
        &site2.token,
        json!({}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/checkbooks/{}/cancel", id(&x_book)),
        &p1.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);

    let mut conn = app.db.connect().await;
    // D's tickets are past their validity (no tolerance in this program).
    diesel::sql_query(format!(
        "UPDATE tickets SET valid_until = current_date - 10 WHERE checkbook_id = '{}'",
        id(&d)
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    // A0 and C0 arrived 40 days ago, a day then settled.
    let day = passnum::domain::french_date(Utc::now()) - Days::new(40);
    diesel::sql_query(format!(
        "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', scanned_at = '{day} 12:00:00 Europe/Paris' WHERE id IN ('{a0}', '{c0}')"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": day, "period_end": day}),
    )
    .await
    .ok(201);
    World {
        program,
        funder,
        p1,
        p2,
        site1,
        site2,
        settled_month: day.format("%Y-%m").to_string(),
        this_month: passnum::domain::french_date(Utc::now())
            .format("%Y-%m")
            .to_string(),
    }
}

pub async fn stats(app: &TestApp, actor: &Actor, program: &str) -> Value {
    app.get(&format!("/api/v1/programs/{program}/stats"), &actor.token)
        .await
        .ok(200)
        .clone()
}

pub fn row<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row {key} = {value} in {rows}"))
}

pub fn keys(rows: &Value, key: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect()
}

/// A beneficiary group of fewer than five people: nothing about them is given.
fn hidden_group() -> Value {
    json!({
        "checkbooks_handed_out": "<5",
        "checkbooks_started": "<5",
        "tickets_handed_out": null,
        "tickets_redeemed": null,
        "amount_redeemed": null,
        "usage_rate": null,
    })
}

/// `row` without its key member.
fn counters(row: &Value, key: &str) -> Value {
    let mut row = row.clone();
    row.as_object_mut().unwrap().remove(key);
    row
}

#[tokio::test]
async fn the_operator_and_the_funders_see_every_figure_of_the_program() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let operator = app.operator().await;
    let s = stats(&app, &operator, &w.program).await;

    assert_eq!(s["program_id"], w.program);
    assert_eq!(s["scope"], "program");
    assert_eq!(
        s["as_of"],
        passnum::domain::french_date(Utc::now()).to_string()
    );
    assert_eq!(
        s["checkbooks"],
        json!({"issued": 6, "in_stock": 1, "handed_out": 5, "started": 4, "cancelled": 1})
    );
    assert_eq!(
        s["tickets"],
        json!({"issued": 30, "handed_out": 25, "redeemed": 6, "settled": 2, "expired": 5,
               "cancelled": 4, "outstanding": 15, "in_stock": 5, "reversals": 1})
    );
    assert_eq!(
        s["amounts"],
        json!({"issued": "300.00", "handed_out": "250.00", "redeemed": "60.00",
               "settled": "20.00", "commission": "2.40", "payable_to_sites": "57.60",
               "expired": "50.00", "cancelled": "40.00", "outstanding": "150.00"})
    );
    assert_eq!(s["usage_rate"], "0.2400");

    assert_eq!(s["by_prescriber"].as_array().unwrap().len(), 2);
    let p1 = row(
        &s["by_prescriber"],
        "organization_id",
        &w.p1.org_id.to_string(),
    );
    assert!(p1["name"].as_str().unwrap().starts_with("prescriber"));
    assert_eq!(
        counters(&counters(p1, "organization_id"), "name"),
        json!({"checkbooks_issued": 4, "checkbooks_handed_out": 3, "checkbooks_started": 3,
               "checkbooks_cancelled": 1, "tickets_issued": 20, "tickets_handed_out": 15,
               "tickets_redeemed": 4, "tickets_settled": 1, "tickets_expired": 0,
               "tickets_cancelled": 4, "tickets_outstanding": 12, "amount_issued": "200.00",
               "amount_redeemed": "40.00", "amount_settled": "10.00", "usage_rate": "0.2667"})
    );
    let p2 = row(
        &s["by_prescriber"],
        "organization_id",
        &w.p2.org_id.to_string(),
    );
    assert_eq!(
        counters(&counters(p2, "organization_id"), "name"),
        json!({"checkbooks_issued": 2, "checkbooks_handed_out": 2, "checkbooks_started": 1,
               "checkbooks_cancelled": 0, "tickets_issued": 10, "tickets_handed_out": 10,
               "tickets_redeemed": 2, "tickets_settled": 1, "tickets_expired": 5,
               "tickets_cancelled": 0, "tickets_outstanding": 3, "amount_issued": "100.00",
               "amount_redeemed": "20.00", "amount_settled": "10.00", "usage_rate": "0.2000"})
    );

    assert_eq!(s["by_site"].as_array().unwrap().len(), 2);
    let site1 = row(
        &s["by_site"],
        "organization_id",
        &w.site1.org_id.to_string(),
    );
    assert_eq!(site1["postcode"], "70000");
    assert_eq!(site1["city"], "Vesoul");
    assert_eq!(
        (
            &site1["tickets_redeemed"],
            &site1["amount_redeemed"],
            &site1["commission"],
            &site1["amount_payable"],
            &site1["tickets_settled"],
            &site1["amount_settled"]
        ),
        (
            &json!(4),
            &json!("40.00"),
            &json!("1.60"),
            &json!("38.40"),
            &json!(1),
            &json!("10.00")
        )
    );
    let site2 = row(
        &s["by_site"],
        "organization_id",
        &w.site2.org_id.to_string(),
    );
    assert_eq!(
        (
            &site2["tickets_redeemed"],
            &site2["amount_redeemed"],
            &site2["commission"],
            &site2["amount_payable"],
            &site2["tickets_settled"],
            &site2["amount_settled"]
        ),
        (
            &json!(2),
            &json!("20.00"),
            &json!("0.80"),
            &json!("19.20"),
            &json!(1),
            &json!("10.00")
        )
    );

    assert_eq!(
        s["by_month"],
        json!([
            {"month": w.settled_month, "tickets_redeemed": 2, "amount_redeemed": "20.00",
             "tickets_settled": 2, "amount_settled": "20.00"},
            {"month": w.this_month, "tickets_redeemed": 4, "amount_redeemed": "40.00",
             "tickets_settled": 0, "amount_settled": "0.00"},
        ])
    );

    assert_eq!(
        keys(&s["by_age_band"], "age_band"),
        ["under_26", "26_44", "45_64", "65_plus", "unknown"]
    );
    // Every group holds fewer than five people: nothing about them is given
    // (statistical secrecy; exact figures of larger groups in tests/api/indicators.rs).
    for (list, key) in [("by_age_band", "age_band"), ("by_situation", "situation")] {
        for r in s[list].as_array().unwrap() {
            assert_eq!(counters(r, key), hidden_group(), "{list}: {r}");
        }
    }
    assert_eq!(
        keys(&s["by_situation"], "situation"),
        [
            "job_seeker",
            "employed",
            "retired",
            "student",
            "inactive",
            "other",
            "unknown"
        ]
    );
    // Départements and communes of fewer than five people are not even named.
    let prefixes = &s["by_postcode_prefix"];
    assert_eq!(keys(prefixes, "postcode_prefix"), ["other", "unknown"]);
    let communes = &s["by_commune"];
    assert_eq!(keys(communes, "postcode"), ["other", "unknown"]);
    for r in prefixes.as_array().unwrap() {
        assert_eq!(counters(r, "postcode_prefix"), hidden_group());
    }

    // A funder of the program sees the same; another funder does not see it at all.
    let seen_by_funder = stats(&app, &w.funder, &w.program).await;
    let mut expected = s.clone();
    expected["as_of"] = seen_by_funder["as_of"].clone();
    assert_eq!(seen_by_funder, expected);
    let stranger = app.member_of_new("funder", "admin").await;
    app.get(
        &format!("/api/v1/programs/{}/stats", w.program),
        &stranger.token,
    )
    .await
    .problem(404, "not_found");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn each_prescriber_sees_only_its_own_checkbooks() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;

    let s = stats(&app, &w.p1, &w.program).await;
    assert_eq!(s["scope"], "prescriber");
    assert_eq!(
        s["checkbooks"],
        json!({"issued": 4, "in_stock": 1, "handed_out": 3, "started": 3, "cancelled": 1})
    );
    assert_eq!(
        s["tickets"],
        json!({"issued": 20, "handed_out": 15, "redeemed": 4, "settled": 1, "expired": 0,
               "cancelled": 4, "outstanding": 12, "in_stock": 5, "reversals": 1})
    );
    assert_eq!(
        s["amounts"],
        json!({"issued": "200.00", "handed_out": "150.00", "redeemed": "40.00",
               "settled": "10.00", "commission": "1.60", "payable_to_sites": "38.40",
               "expired": "0.00", "cancelled": "40.00", "outstanding": "120.00"})
    );
    assert_eq!(s["usage_rate"], "0.2667");
    assert_eq!(
        keys(&s["by_prescriber"], "organization_id"),
        [w.p1.org_id.to_string()]
    );
    assert_eq!(
        keys(&s["by_site"], "organization_id"),
        [w.site1.org_id.to_string()]
    );
    assert_eq!(s["by_site"][0]["tickets_redeemed"], 4);
    assert_eq!(
        s["by_month"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (
                m["month"].as_str().unwrap(),
                m["tickets_redeemed"].as_i64().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(w.settled_month.as_str(), 1), (w.this_month.as_str(), 3)]
    );
    for band in s["by_age_band"].as_array().unwrap() {
        assert_eq!(counters(band, "age_band"), hidden_group());
    }
    assert_eq!(
        keys(&s["by_postcode_prefix"], "postcode_prefix"),
        ["other", "unknown"]
    );

    let s = stats(&app, &w.p2, &w.program).await;
    assert_eq!(s["scope"], "prescriber");
    assert_eq!(
        s["checkbooks"],
        json!({"issued": 2, "in_stock": 0, "handed_out": 2, "started": 1, "cancelled": 0})
    );
    assert_eq!(
        s["tickets"],
        json!({"issued": 10, "handed_out": 10, "redeemed": 2, "settled": 1, "expired": 5,
               "cancelled": 0, "outstanding": 3, "in_stock": 0, "reversals": 0})
    );
    assert_eq!(s["amounts"]["redeemed"], "20.00");
    assert_eq!(s["amounts"]["expired"], "50.00");
    assert_eq!(s["usage_rate"], "0.2000");
    assert_eq!(
        keys(&s["by_prescriber"], "organization_id"),
        [w.p2.org_id.to_string()]
    );
    assert_eq!(
        keys(&s["by_site"], "organization_id"),
        [w.site2.org_id.to_string()]
    );
    assert_eq!(
        keys(&s["by_postcode_prefix"], "postcode_prefix"),
        ["other", "unknown"]
    );
    assert_eq!(keys(&s["by_commune"], "postcode"), ["other", "unknown"]);
    let bands = &s["by_age_band"];
    assert_eq!(
        row(bands, "age_band", "65_plus")["tickets_redeemed"],
        Value::Null
    );
    assert_eq!(
        row(bands, "age_band", "unknown")["tickets_handed_out"],
        Value::Null
    );

    // A prescriber without an allocation in the program does not see it.
    let outsider = app.member_of_new("prescriber", "agent").await;
    app.get(
        &format!("/api/v1/programs/{}/stats", w.program),
        &outsider.token,
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn a_site_sees_only_its_redemptions_and_never_a_program_it_did_not_redeem() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;

    let s = stats(&app, &w.site1, &w.program).await;
    assert_eq!(s["scope"], "site");
    // A, B and X had tickets redeemed here: 4 tickets, A0 settled.
    assert_eq!(
        s["checkbooks"],
        json!({"issued": 3, "in_stock": 0, "handed_out": 3, "started": 3, "cancelled": 1})
    );
    assert_eq!(
        s["tickets"],
        json!({"issued": 4, "handed_out": 4, "redeemed": 4, "settled": 1, "expired": 0,
               "cancelled": 0, "outstanding": 0, "in_stock": 0, "reversals": 0})
    );
    assert_eq!(
        s["amounts"],
        json!({"issued": "40.00", "handed_out": "40.00", "redeemed": "40.00",
               "settled": "10.00", "commission": "1.60", "payable_to_sites": "38.40",
               "expired": "0.00", "cancelled": "0.00", "outstanding": "0.00"})
    );
    assert_eq!(s["usage_rate"], Value::Null);
    assert_eq!(
        keys(&s["by_site"], "organization_id"),
        [w.site1.org_id.to_string()]
    );
    assert_eq!(
        keys(&s["by_prescriber"], "organization_id"),
        [w.p1.org_id.to_string()]
    );
    assert_eq!(s["by_prescriber"][0]["tickets_redeemed"], 4);
    assert!(
        s["by_age_band"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["usage_rate"].is_null())
    );
    assert_eq!(
        row(&s["by_situation"], "situation", "job_seeker")["checkbooks_started"],
        "<5"
    );

    // Site 2: C0 (settled) and C1; A2 was reversed, counted apart.
    let s = stats(&app, &w.site2, &w.program).await;
    assert_eq!(s["scope"], "site");
    assert_eq!(
        s["checkbooks"],
        json!({"issued": 1, "in_stock": 0, "handed_out": 1, "started": 1, "cancelled": 0})
    );
    assert_eq!(
        s["tickets"],
        json!({"issued": 2, "handed_out": 2, "redeemed": 2, "settled": 1, "expired": 0,
               "cancelled": 0, "outstanding": 0, "in_stock": 0, "reversals": 1})
    );
    assert_eq!(s["amounts"]["redeemed"], "20.00");
    assert_eq!(s["amounts"]["settled"], "10.00");
    assert_eq!(
        keys(&s["by_prescriber"], "organization_id"),
        [w.p2.org_id.to_string()]
    );
    assert_eq!(
        s["by_month"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["month"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        [w.settled_month.clone(), w.this_month.clone()]
    );

    // A labelled site that never redeemed a ticket of the program: 404.
    let elsewhere = labelled_site(&app).await;
    app.get(
        &format!("/api/v1/programs/{}/stats", w.program),
        &elsewhere.token,
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn an_empty_program_has_zeros_no_usage_rate_and_every_fixed_group() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(3).await;
    let operator = app.operator().await;
    let s = stats(&app, &operator, &t.program).await;
    assert_eq!(s["scope"], "program");
    assert_eq!(
        s["checkbooks"],
        json!({"issued": 0, "in_stock": 0, "handed_out": 0, "started": 0, "cancelled": 0})
    );
    assert_eq!(s["tickets"]["issued"], 0);
    assert_eq!(s["amounts"]["issued"], "0.00");
    assert_eq!(s["amounts"]["payable_to_sites"], "0.00");
    assert_eq!(s["usage_rate"], Value::Null);
    for list in ["by_prescriber", "by_site", "by_month", "by_postcode_prefix"] {
        assert_eq!(s[list], json!([]), "{list}");
    }
    assert_eq!(s["by_age_band"].as_array().unwrap().len(), 5);
    assert_eq!(s["by_situation"].as_array().unwrap().len(), 7);
    // The prescriber with an allocation sees its (empty) part.
    assert_eq!(
        stats(&app, &t.prescriber, &t.program).await["scope"],
        "prescriber"
    );
    // A program that does not exist, and no token.
    app.get(
        &format!("/api/v1/programs/{}/stats", Uuid::new_v4()),
        &operator.token,
    )
    .await
    .problem(404, "not_found");
    app.request(
        reqwest::Method::GET,
        &format!("/api/v1/programs/{}/stats", t.program),
        None,
        None,
    )
    .await
    .problem(401, "unauthenticated");
}

/// A statistics breakdown as CSV bytes; asserts 200 and a CSV answer.
async fn stats_csv(app: &TestApp, actor: &Actor, program: &str, query: &str) -> String {
    let res = app
        .client
        .get(format!(
            "{}/api/v1/programs/{program}/stats.csv?{query}",
            app.address
        ))
        .bearer_auth(&actor.token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res.headers()[reqwest::header::CONTENT_TYPE].clone();
    let bytes = res.bytes().await.unwrap().to_vec();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(status, 200, "{query}: {text}");
    assert_eq!(content_type, "text/csv; charset=utf-8; header=present");
    text
}

/// The Excel form's rows (header first), amounts read back with a decimal point.
fn excel_rows(text: &str) -> Vec<Vec<String>> {
    let body = text.strip_prefix('\u{feff}').expect("a BOM first");
    assert!(
        body.ends_with("\r\n") && !body.replace("\r\n", "").contains('\n'),
        "CRLF: {body:?}"
    );
    csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(|c| c.replace(',', ".")).collect())
        .collect()
}

fn dec(cell: &str) -> rust_decimal::Decimal {
    cell.parse().unwrap()
}

/// Every breakdown of the charts is a CSV the funder opens in Excel (or a script in
/// the plain form), with the same figures as the statistics, to the cent; scoped as
/// they are; a missing or unknown table refused in French.
#[tokio::test]
async fn every_breakdown_exports_as_csv_with_the_same_figures() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let json = stats(&app, &w.funder, &w.program).await;

    let text = stats_csv(&app, &w.funder, &w.program, "breakdown=month").await;
    let rows = excel_rows(&text);
    assert_eq!(
        rows[0].join(";"),
        "mois;cheques_utilises;montant_utilise;cheques_rembourses;montant_rembourse"
    );
    assert!(text.contains(";20,00;"), "decimal comma: {text}");
    assert_eq!(rows.len() - 1, json["by_month"].as_array().unwrap().len());
    for m in json["by_month"].as_array().unwrap() {
        let row = rows.iter().find(|r| r[0] == m["month"]).unwrap();
        assert_eq!(row[1], m["tickets_redeemed"].to_string());
        assert_eq!(dec(&row[2]), dec(m["amount_redeemed"].as_str().unwrap()));
        assert_eq!(dec(&row[4]), dec(m["amount_settled"].as_str().unwrap()));
    }
    assert!(rows.iter().any(|r| r[0] == w.settled_month));
    assert!(rows.iter().any(|r| r[0] == w.this_month));

    let rows = excel_rows(&stats_csv(&app, &w.funder, &w.program, "breakdown=site").await);
    let used: rust_decimal::Decimal = rows[1..].iter().map(|r| dec(&r[4])).sum();
    assert_eq!(
        used,
        dec(json["amounts"]["redeemed"].as_str().unwrap()),
        "to the cent"
    );
    let owed: rust_decimal::Decimal = rows[1..].iter().map(|r| dec(&r[6])).sum();
    assert_eq!(
        owed,
        dec(json["amounts"]["payable_to_sites"].as_str().unwrap())
    );

    let rows = excel_rows(&stats_csv(&app, &w.funder, &w.program, "breakdown=prescriber").await);
    assert_eq!(rows.len() - 1, 2);
    let issued: i64 = rows[1..].iter().map(|r| r[1].parse::<i64>().unwrap()).sum();
    assert_eq!(issued, json["checkbooks"]["issued"].as_i64().unwrap());

    let rows = excel_rows(&stats_csv(&app, &w.funder, &w.program, "breakdown=funnel").await);
    let step = |key: &str| {
        rows.iter().find(|r| r[0] == key).unwrap()[2]
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(
        step("chequiers_emis"),
        json["checkbooks"]["issued"].as_i64().unwrap()
    );
    assert_eq!(
        step("chequiers_entames"),
        json["checkbooks"]["started"].as_i64().unwrap()
    );
    assert_eq!(
        step("cheques_utilises"),
        json["tickets"]["redeemed"].as_i64().unwrap()
    );
    assert_eq!(
        step("cheques_expires"),
        json["tickets"]["expired"].as_i64().unwrap()
    );

    let rows = excel_rows(&stats_csv(&app, &w.funder, &w.program, "breakdown=age_band").await);
    assert_eq!(rows.len() - 1, 5, "every age band: {rows:?}");
    assert_eq!(rows[1][1], "Moins de 26 ans");
    for (row, group) in rows[1..]
        .iter()
        .zip(json["by_age_band"].as_array().unwrap())
    {
        assert_eq!(row[0], group["age_band"].as_str().unwrap());
        assert_eq!(row[2], "<5", "fewer than five people: {row:?}");
        assert_eq!(row[5], "", "their use is not given: {row:?}");
        assert!(group["tickets_redeemed"].is_null());
        assert_eq!(
            row[7],
            group["usage_rate"].as_str().unwrap_or_default(),
            "{row:?}"
        );
    }
    let rows = excel_rows(&stats_csv(&app, &w.funder, &w.program, "breakdown=situation").await);
    assert!(
        rows.iter()
            .any(|r| r[0] == "job_seeker" && r[1] == "Demandeur d’emploi")
    );
    let rows =
        excel_rows(&stats_csv(&app, &w.funder, &w.program, "breakdown=postcode_prefix").await);
    assert!(
        rows.iter()
            .any(|r| r[0] == "other" && r[2] == "<5" && r[1].starts_with("Autres départements")),
        "{rows:?}"
    );
    assert!(!rows.iter().any(|r| r[0] == "70"), "{rows:?}");
    let rows = excel_rows(&stats_csv(&app, &w.funder, &w.program, "breakdown=commune").await);
    assert_eq!(rows[0][..3], ["code_postal", "libelle", "chequiers_remis"]);
    assert!(!rows.iter().any(|r| r[0] == "25000"), "{rows:?}");

    // The plain form for scripts: no BOM, commas, decimal points, CRLF.
    let plain = stats_csv(
        &app,
        &w.funder,
        &w.program,
        "breakdown=month&format=rfc4180",
    )
    .await;
    assert!(
        plain.starts_with("mois,cheques_utilises,montant_utilise,"),
        "{plain}"
    );
    assert!(
        plain.contains(",20.00,") && plain.ends_with("\r\n") && !plain.contains(';'),
        "{plain}"
    );

    // Scoped as the statistics: a prescriber sees its own row only; another funder
    // nothing.
    let rows = excel_rows(&stats_csv(&app, &w.p2, &w.program, "breakdown=prescriber").await);
    assert_eq!(rows.len() - 1, 1, "{rows:?}");
    let other = app.member_of_new("funder", "agent").await;
    app.get(
        &format!("/api/v1/programs/{}/stats.csv?breakdown=month", w.program),
        &other.token,
    )
    .await
    .problem(404, "not_found");
    for (query, field) in [
        ("", "breakdown"),
        ("?breakdown=nothing", "breakdown"),
        ("?breakdown=month&format=xlsx", "format"),
    ] {
        let refused = app
            .get(
                &format!("/api/v1/programs/{}/stats.csv{query}", w.program),
                &w.funder.token,
            )
            .await;
        assert_eq!(
            refused.problem(422, "validation_failed")["field"],
            field,
            "{query}"
        );
    }
}
