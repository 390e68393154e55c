//! `verify` and `redeem` cannot disagree: every scenario below is run through
//! `POST /tickets/verify` and then `POST /redemptions` on the same ticket, by the
//! same site, for the same scan time; both must give the scenario's verdict (the
//! refusal's code and HTTP status, or an acceptance). Both ask the one SQL home of
//! the rules (`ticket_verdict`, sql/functions/redemption.sql); a rule copied back
//! into Rust for one of them would make a row of this table fail, naming it.

use chrono::{Days, Duration, NaiveDate, Utc};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// What a scenario must get: accepted, or refused with this status and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Refused(u16, &'static str),
}

struct Case {
    name: &'static str,
    site: Actor,
    /// `{code}` or `{serial}`, and `scanned_at` when the scan was made earlier.
    body: Value,
    expected: Verdict,
}

/// The French day `n` days before today.
fn days_ago(n: u64) -> NaiveDate {
    passnum::domain::french_date(Utc::now()) - Days::new(n)
}

async fn set_valid_until(app: &TestApp, ticket: &Value, day: NaiveDate) {
    let serial = passnum::codes::Serial::parse(ticket["serial"].as_str().unwrap()).unwrap();
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "UPDATE tickets SET valid_until = '{day}' WHERE serial = '{}'",
        serial.as_str()
    ))
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn redeem(app: &TestApp, site: &Actor, body: &Value) -> crate::helpers::Response {
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&site.token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(body),
    )
    .await
}

/// A site agent whose site (postcode `postcode`) holds a label from `from` to `until`.
async fn site_with_label(
    app: &TestApp,
    postcode: &str,
    from: NaiveDate,
    until: NaiveDate,
) -> Actor {
    let operator = app.operator().await;
    let site = app
        .organization("site", json!({"postcode": postcode}))
        .await;
    let id = site["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/sites/{id}/label"),
        &operator.token,
        json!({"valid_from": from, "valid_until": until}),
    )
    .await
    .ok(200);
    app.user_in(id, "agent").await
}

fn code(ticket: &Value) -> Value {
    json!({"code": ticket["code"]})
}

#[tokio::test]
async fn verify_and_redeem_give_the_same_verdict_in_every_scenario() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    // A program for the "70" département, with three days of tolerance.
    let (program, funders) = app
        .program(
            &["0.60", "0.40"],
            json!({"territory_postcodes": ["70"], "tolerance_days": 3}),
        )
        .await;
    app.pay(&program, &funders[0], "6000.00").await.ok(201);
    app.pay(&program, &funders[1], "4000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 10)
        .await
        .ok(201);
    let issue = |beneficiary: Option<Value>| {
        let (app, prescriber, program) = (&app, &prescriber, &program);
        async move {
            app.issue(prescriber, program, beneficiary)
                .await
                .ok(201)
                .clone()
        }
    };
    let book = issue(Some(json!({"reference": "B-1"}))).await;
    let t = book["tickets"].as_array().unwrap().clone();
    let more = issue(Some(json!({"reference": "B-2"}))).await;
    let t2 = more["tickets"].as_array().unwrap().clone();
    let stock = issue(None).await;
    let lost = issue(Some(json!({"reference": "L"}))).await;
    app.post(
        &format!("/api/v1/checkbooks/{}/cancel", lost["id"].as_str().unwrap()),
        &prescriber.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);

    let today = days_ago(0);
    let site = site_with_label(
        &app,
        "70000",
        today - Days::new(400),
        today + Days::new(400),
    )
    .await;
    let neighbour = site_with_label(
        &app,
        "70100",
        today - Days::new(400),
        today + Days::new(400),
    )
    .await;
    let far = site_with_label(
        &app,
        "17000",
        today - Days::new(400),
        today + Days::new(400),
    )
    .await;
    let lapsed = site_with_label(&app, "70000", today - Days::new(400), today - Days::new(1)).await;
    let early = site_with_label(&app, "70000", today + Days::new(1), today + Days::new(400)).await;
    let suspended = site_with_label(
        &app,
        "70000",
        today - Days::new(400),
        today + Days::new(400),
    )
    .await;
    app.post(
        &format!("/api/v1/sites/{}/label/suspend", suspended.org_id),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);

    // Expired by the nightly `passnum expire` (the only ticket past its last day then).
    set_valid_until(&app, &t[7], days_ago(10)).await;
    {
        let mut conn = app.db.connect().await;
        let program_id = Uuid::parse_str(&program).unwrap();
        let expired = conn
            .transaction::<_, passnum::db::DbError, _>(async |conn| {
                passnum::closing::expire_due(
                    conn,
                    passnum::audit::Actor::Service("test"),
                    today,
                    Some(program_id),
                )
                .await
            })
            .await
            .unwrap();
        assert_eq!(expired.len(), 1, "{expired:?}");
        assert_eq!(expired[0].1, 1, "one ticket expired");
    }
    // Tickets used before the scenario runs.
    redeem(&app, &site, &code(&t[1])).await.ok(201);
    redeem(&app, &neighbour, &code(&t[2])).await.ok(201);
    // Last usable days: validity + 3 days of tolerance.
    set_valid_until(&app, &t[3], days_ago(4)).await; // last day: yesterday
    set_valid_until(&app, &t[4], days_ago(3)).await; // last day: today
    set_valid_until(&app, &t[5], days_ago(4)).await; // last day: yesterday, scanned 2 days ago
    set_valid_until(&app, &t[6], days_ago(5)).await; // last day: 2 days ago, scanned yesterday
    let at = |hours: i64| (Utc::now() - Duration::hours(hours)).to_rfc3339();
    let forged = t2[0]["code"].as_str().unwrap().replace('A', "B");

    let cases = vec![
        Case {
            name: "a fresh ticket",
            site: site.clone(),
            body: code(&t[0]),
            expected: Verdict::Accepted,
        },
        Case {
            name: "a fresh ticket, typed",
            site: site.clone(),
            body: json!({"serial": t2[1]["serial"]}),
            expected: Verdict::Accepted,
        },
        Case {
            name: "already redeemed by the same site",
            site: site.clone(),
            body: code(&t[1]),
            expected: Verdict::Refused(409, "already_redeemed"),
        },
        Case {
            name: "already redeemed by another site",
            site: site.clone(),
            body: code(&t[2]),
            expected: Verdict::Refused(409, "already_redeemed"),
        },
        Case {
            name: "past its last usable day",
            site: site.clone(),
            body: code(&t[3]),
            expected: Verdict::Refused(410, "ticket_expired"),
        },
        Case {
            name: "past its validity, on the last day of its tolerance",
            site: site.clone(),
            body: code(&t[4]),
            expected: Verdict::Accepted,
        },
        Case {
            name: "scanned offline before its last day, sent after",
            site: site.clone(),
            body: json!({"code": t[5]["code"], "scanned_at": at(48)}),
            expected: Verdict::Accepted,
        },
        Case {
            name: "scanned offline after its last day",
            site: site.clone(),
            body: json!({"code": t[6]["code"], "scanned_at": at(24)}),
            expected: Verdict::Refused(410, "ticket_expired"),
        },
        Case {
            name: "expired by the nightly run",
            site: site.clone(),
            body: code(&t[7]),
            expected: Verdict::Refused(410, "ticket_expired"),
        },
        Case {
            name: "its checkbook is stock, not handed out",
            site: site.clone(),
            body: code(&stock["tickets"][0]),
            expected: Verdict::Refused(409, "not_handed_out"),
        },
        Case {
            name: "its checkbook was cancelled",
            site: site.clone(),
            body: code(&lost["tickets"][0]),
            expected: Verdict::Refused(410, "ticket_cancelled"),
        },
        Case {
            name: "outside the program's territory",
            site: far.clone(),
            body: code(&t[8]),
            expected: Verdict::Refused(403, "outside_territory"),
        },
        Case {
            name: "the site's label is suspended",
            site: suspended.clone(),
            body: code(&t[8]),
            expected: Verdict::Refused(403, "label_inactive"),
        },
        Case {
            name: "the site's label has expired",
            site: lapsed.clone(),
            body: code(&t[8]),
            expected: Verdict::Refused(403, "label_inactive"),
        },
        Case {
            name: "the site's label is not valid yet",
            site: early.clone(),
            body: code(&t[8]),
            expected: Verdict::Refused(403, "label_inactive"),
        },
        Case {
            name: "an unknown serial",
            site: site.clone(),
            body: json!({"serial": passnum::codes::Serial::random().as_str()}),
            expected: Verdict::Refused(422, "invalid_code"),
        },
        Case {
            name: "a forged code",
            site: site.clone(),
            body: json!({"code": forged}),
            expected: Verdict::Refused(422, "invalid_code"),
        },
    ];

    for case in cases {
        let name = case.name;
        let verified = app
            .post(
                "/api/v1/tickets/verify",
                &case.site.token,
                case.body.clone(),
            )
            .await;
        // What verify says a redemption would answer: its `refusal` (a 200), or the
        // refusal itself for what tells nothing of a ticket (label, invalid code).
        let by_verify = match verified.status.as_u16() {
            200 => match verified.body["refusal"].as_str() {
                None => {
                    assert!(
                        verified.body["refusal"].is_null(),
                        "{name}: verify's refusal {}",
                        verified.body
                    );
                    Verdict::Accepted
                }
                Some(code) => Verdict::Refused(
                    status_of(code).unwrap_or_else(|| panic!("{name}: unknown code {code}")),
                    leak(code),
                ),
            },
            status => Verdict::Refused(status, leak(verified.body["code"].as_str().unwrap_or(""))),
        };
        let redeemed = redeem(&app, &case.site, &case.body).await;
        let by_redeem = match redeemed.status.as_u16() {
            201 => Verdict::Accepted,
            status => Verdict::Refused(status, leak(redeemed.body["code"].as_str().unwrap_or(""))),
        };
        assert_eq!(
            by_verify, by_redeem,
            "{name}: verify said {by_verify:?}, redeem said {by_redeem:?} ({} / {})",
            verified.text, redeemed.text
        );
        assert_eq!(
            by_redeem, case.expected,
            "{name}: expected {:?}, got {by_redeem:?} ({})",
            case.expected, redeemed.text
        );
    }
    app.assert_ledger_invariants().await;
}

/// The status a redemption answers for a refusal code (the API's contract).
fn status_of(code: &str) -> Option<u16> {
    Some(match code {
        "already_redeemed" | "not_handed_out" => 409,
        "ticket_expired" | "ticket_cancelled" => 410,
        "invalid_code" => 422,
        "label_inactive" | "outside_territory" => 403,
        _ => return None,
    })
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// The refusal codes are written once, as the Rust enum `Refusal`: the OpenAPI
/// document lists them as an enum, and the web app's French words
/// (`web/app/refusals.js`) have exactly one entry per code — a code added on one
/// side only fails here.
#[test]
fn the_web_app_words_exactly_the_refusals_of_the_api() {
    let root = env!("CARGO_MANIFEST_DIR");
    let from_enum: std::collections::BTreeSet<String> = passnum::redemptions::Refusal::ALL
        .iter()
        .map(|r| {
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(json, r.code(), "Refusal::code and its JSON agree");
            r.code().to_string()
        })
        .collect();

    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/openapi/openapi.json")).unwrap(),
    )
    .unwrap();
    let from_openapi: std::collections::BTreeSet<String> =
        document["components"]["schemas"]["Refusal"]["enum"]
            .as_array()
            .expect("Refusal is an enum of the OpenAPI document")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
    assert_eq!(from_openapi, from_enum, "the OpenAPI enum is the Rust enum");

    let js = std::fs::read_to_string(format!("{root}/web/app/refusals.js")).unwrap();
    let body = js
        .split("export const REFUSALS = {")
        .nth(1)
        .and_then(|rest| rest.split("\n};").next())
        .expect("refusals.js declares `export const REFUSALS = { … };`");
    // The entries' keys: two spaces of indent, a name, a colon and a brace.
    let from_web: std::collections::BTreeSet<String> = body
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.strip_suffix(": {"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        from_web, from_enum,
        "web/app/refusals.js words exactly the API's refusal codes"
    );
}

/// The verdict costs the redemption's hot path nothing more than before: the planner
/// inlines `ticket_verdict` (and the small functions it asks) into the caller's
/// query, so `redeem_ticket` still reads everything in one statement, by index (the
/// arguments must not be volatile: `redeem_ticket` passes its parameters).
#[tokio::test]
async fn the_verdict_is_inlined_into_the_query_that_asks_it() {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect().await;
    let plan: Vec<Line> = diesel::sql_query(
        "EXPLAIN SELECT * FROM ticket_verdict('7K3M9QX2ZA', NULL, '00000000-0000-0000-0000-000000000000', \
         current_date, current_date)",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|l| l.line).collect();
    assert!(
        !plan
            .iter()
            .any(|l| l.contains("Function Scan on ticket_verdict")),
        "ticket_verdict is not inlined:\n{}",
        plan.join("\n")
    );
    assert!(
        plan.iter()
            .any(|l| l.contains("Index Scan") && l.contains("tickets")),
        "the ticket is found by its index:\n{}",
        plan.join("\n")
    );
}
