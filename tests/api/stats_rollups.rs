//! The statistics' rollups (sql/functions/stats.sql) never disagree with the raw
//! rows: after random operations through the real use cases (issue with publics,
//! print in stock, hand out, redeem naming a service or not, reverse, cancel, expire,
//! erase, settle, record and correct a follow-up, correct a service's theme), the
//! whole-program statistics read from the rollups equal those computed from every
//! ticket, before and after a fold. The keys are drawn from few values so that groups
//! reach five people and their figures are shown, not only `<5`.

use chrono::{Days, Utc};
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};
use crate::stats::labelled_site;

/// A small reproducible generator (xorshift), its seed printed on failure.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

struct Book {
    id: String,
    tickets: Vec<Value>,
    handed_out: bool,
    cancelled: bool,
}

async fn same_figures(conn: &mut AsyncPgConnection, program: Uuid, step: &str) {
    let now = Utc::now();
    let raw = passnum::stats::program_stats_from_raw_rows(conn, program, now)
        .await
        .unwrap();
    let rolled = passnum::stats::program_stats_from_rollups(conn, program, now)
        .await
        .unwrap();
    assert_eq!(rolled.totals, raw.totals, "totals, {step}");
    assert_eq!(rolled.reversals, raw.reversals, "reversals, {step}");
    assert_eq!(
        rolled.by_prescriber, raw.by_prescriber,
        "prescribers, {step}"
    );
    assert_eq!(rolled.by_site, raw.by_site, "sites, {step}");
    assert_eq!(rolled.by_month, raw.by_month, "months, {step}");
    assert_eq!(rolled.by_age_band, raw.by_age_band, "ages, {step}");
    assert_eq!(rolled.by_situation, raw.by_situation, "situations, {step}");
    assert_eq!(
        rolled.by_postcode_prefix, raw.by_postcode_prefix,
        "départements, {step}"
    );
    assert_eq!(rolled.by_commune, raw.by_commune, "communes, {step}");
    assert_eq!(rolled.by_public, raw.by_public, "publics, {step}");
    assert_eq!(rolled.services, raw.services, "themes and formats, {step}");
    assert_eq!(rolled.autonomy, raw.autonomy, "autonomy, {step}");
}

/// A redemption naming `service` (or none).
async fn redeem_for(
    app: &TestApp,
    site: &Actor,
    ticket: &Value,
    service: Option<&str>,
) -> crate::helpers::Response {
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&site.token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({"code": ticket["code"], "service_id": service})),
    )
    .await
}

/// A site's admin replaces its services with two, of these themes (in order, the
/// same ids when given): returns their ids.
async fn services(
    app: &TestApp,
    admin: &Actor,
    themes: [&str; 2],
    ids: Option<&[String]>,
) -> Vec<String> {
    let mut list = json!([
        {"title": "Atelier", "theme": themes[0], "format": "collective", "duration_minutes": 90},
        {"title": "Rendez-vous", "theme": themes[1], "format": "individual", "duration_minutes": 60},
    ]);
    if let Some(ids) = ids {
        list[0]["id"] = json!(ids[0]);
        list[1]["id"] = json!(ids[1]);
    }
    let res = app
        .request(
            Method::PUT,
            &format!("/api/v1/sites/{}/services", admin.org_id),
            Some(&admin.token),
            Some(list),
        )
        .await;
    res.ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(sql)
        .get_result::<N>(conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn rollups_agree_with_the_raw_rows_after_random_operations() {
    let seed = Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64 | 1;
    println!("seed {seed}");
    let mut dice = Dice(seed);
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(60).await;
    let other = app.member_of_new("prescriber", "agent").await;
    app.allocate(&t.program, &other.org_id.to_string(), 20)
        .await
        .ok(201);
    let prescribers: [&Actor; 2] = [&t.prescriber, &other];
    let sites = [labelled_site(&app).await, labelled_site(&app).await];
    let mut admins = Vec::new();
    let mut site_services = Vec::new();
    for site in &sites {
        let admin = app.user_in(&site.org_id.to_string(), "admin").await;
        site_services.push(services(&app, &admin, ["smartphone", "emploi"], None).await);
        admins.push(admin);
    }
    let program: Uuid = t.program.parse().unwrap();
    let mut conn = app.db.connect().await;
    let mut books: Vec<(usize, Book)> = Vec::new();
    let mut redemptions: Vec<(String, usize)> = Vec::new();
    let mut settled_days = 0u64;
    let today = passnum::domain::french_date(Utc::now());

    // A dozen people first, each with two tickets used for the first site's two
    // services and a follow-up: groups of more than five, so that the random steps
    // below move figures that are shown, not only `<5`.
    for i in 0..12 {
        let book = app
            .issue(
                &t.prescriber,
                &t.program,
                Some(json!({"reference": format!("S{i}"), "birth_year": 1990,
                            "postcode": "70000", "publics": ["rsa"]})),
            )
            .await
            .ok(201)
            .clone();
        let tickets = book["tickets"].as_array().unwrap().clone();
        for (ticket, service) in tickets.iter().zip(&site_services[0]) {
            let res = redeem_for(&app, &sites[0], ticket, Some(service)).await;
            redemptions.push((res.ok(201)["id"].as_str().unwrap().to_string(), 0));
        }
        let id = book["id"].as_str().unwrap().to_string();
        app.post(
            &format!("/api/v1/checkbooks/{id}/evaluation"),
            &sites[0].token,
            json!({"before": 1, "after": 3}),
        )
        .await
        .ok(201);
        books.push((
            0,
            Book {
                id,
                tickets,
                handed_out: true,
                cancelled: false,
            },
        ));
    }
    passnum::stats::fold(&mut conn).await.unwrap();
    same_figures(&mut conn, program, &format!("seeded, seed {seed}")).await;

    for step in 0..150 {
        let op = if books.is_empty() { 0 } else { dice.below(15) };
        let b = dice.below(books.len().max(1));
        let label;
        match op {
            // Issue, with a beneficiary (some fields missing) or in stock.
            0 | 1 => {
                let p = dice.below(2);
                let birth_year = [1950, 1990, 2003][dice.below(3)];
                let situation = ["retired", "job_seeker", "student"][dice.below(3)];
                let postcode = ["70000", "70100", "25000"][dice.below(3)];
                let beneficiary = match dice.below(4) {
                    0 => None,
                    3 => Some(json!({"reference": format!("R{step}"), "situation": situation})),
                    _ => Some(json!({
                        "reference": format!("R{step}"),
                        "birth_year": birth_year,
                        "situation": situation,
                        "postcode": postcode,
                    })),
                };
                let publics = [json!([]), json!(["rsa"]), json!(["rsa", "senior"])];
                let beneficiary = beneficiary.map(|mut b| {
                    b["publics"] = publics[dice.below(3)].clone();
                    b
                });
                let stock = beneficiary.is_none();
                let book = app
                    .issue(prescribers[p], &t.program, beneficiary)
                    .await
                    .ok(201)
                    .clone();
                books.push((
                    p,
                    Book {
                        id: book["id"].as_str().unwrap().to_string(),
                        tickets: book["tickets"].as_array().unwrap().clone(),
                        handed_out: !stock,
                        cancelled: false,
                    },
                ));
                label = "issue";
            }
            // Hand out a stock checkbook.
            2 => {
                let (p, book) = &mut books[b];
                if !book.handed_out && !book.cancelled {
                    app.post(
                        &format!("/api/v1/checkbooks/{}/hand-out", book.id),
                        &prescribers[*p].token,
                        json!({"beneficiary": {"reference": format!("H{step}"), "birth_year": 1980, "postcode": "70000"}}),
                    )
                    .await
                    .ok(200);
                    book.handed_out = true;
                }
                label = "hand out";
            }
            // Redeem tickets (refusals are fine: they change nothing).
            3..=5 | 12 | 13 => {
                let (_, book) = &books[b];
                let s = dice.below(2);
                let ticket = &book.tickets[dice.below(book.tickets.len())];
                let service = site_services[s].get(dice.below(3));
                let res = redeem_for(&app, &sites[s], ticket, service.map(String::as_str)).await;
                if res.status == 201 {
                    let body: &Value = res.ok(201);
                    redemptions.push((body["id"].as_str().unwrap().to_string(), s));
                }
                label = "redeem";
            }
            // Reverse a redemption (refused once settled: nothing changes).
            6 if !redemptions.is_empty() => {
                let (id, s) = redemptions.swap_remove(dice.below(redemptions.len()));
                app.post(
                    &format!("/api/v1/redemptions/{id}/reverse"),
                    &sites[s].token,
                    json!({}),
                )
                .await;
                label = "reverse";
            }
            // Cancel a checkbook, or erase its beneficiary.
            7 => {
                let (p, book) = &mut books[b];
                if dice.below(2) == 0 {
                    app.post(
                        &format!("/api/v1/checkbooks/{}/cancel", book.id),
                        &prescribers[*p].token,
                        json!({"reason": "perdu"}),
                    )
                    .await;
                    book.cancelled = true;
                    label = "cancel";
                } else {
                    app.post(
                        &format!("/api/v1/checkbooks/{}/erase-beneficiary", book.id),
                        &prescribers[*p].token,
                        json!({}),
                    )
                    .await;
                    label = "erase";
                }
            }
            // A checkbook's validity ends; sometimes the daily expiry runs.
            8 => {
                let (_, book) = &books[b];
                diesel::sql_query(format!(
                    "UPDATE tickets SET valid_until = current_date - {} WHERE checkbook_id = '{}'",
                    1 + dice.below(3),
                    book.id
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                if dice.below(2) == 0 {
                    conn.transaction::<_, passnum::db::DbError, _>(async |conn| {
                        passnum::closing::expire_due(
                            conn,
                            passnum::audit::Actor::Service("test"),
                            today,
                            Some(program),
                        )
                        .await
                    })
                    .await
                    .unwrap();
                }
                label = "expire";
            }
            // A site records (or corrects) a follow-up: refused when it redeemed none
            // of the checkbook's tickets, which changes nothing.
            10 | 14 => {
                let (_, book) = &books[b];
                let levels = [(1, 3), (1, 3), (2, 3)][dice.below(3)];
                for site in &sites {
                    app.post(
                        &format!("/api/v1/checkbooks/{}/evaluation", book.id),
                        &site.token,
                        json!({"before": levels.0, "after": levels.1, "themes": ["smartphone"]}),
                    )
                    .await;
                }
                label = "follow-up";
            }
            // A site corrects its services' themes (same ids): past redemptions
            // count under the new theme.
            11 => {
                let s = dice.below(2);
                let themes = [["smartphone", "emploi"], ["securite", "smartphone"]][dice.below(2)];
                site_services[s] =
                    services(&app, &admins[s], themes, Some(&site_services[s])).await;
                label = "services";
            }
            // Some redemptions arrived on a past day, which is then settled.
            _ => {
                settled_days += 1;
                let day = today - Days::new(30 + settled_days);
                diesel::sql_query(format!(
                    "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris',
                            scanned_at = '{day} 12:00:00 Europe/Paris'
                      WHERE id IN (SELECT id FROM redemptions WHERE program_id = '{program}'
                                      AND redeemed_at > now() - interval '1 day'
                                    ORDER BY id LIMIT 2)"
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
                label = "settle";
            }
        }
        if step % 5 == 4 {
            same_figures(
                &mut conn,
                program,
                &format!("step {step} ({label}), seed {seed}"),
            )
            .await;
        }
        if step % 10 == 9 {
            passnum::stats::fold(&mut conn).await.unwrap();
            same_figures(
                &mut conn,
                program,
                &format!("folded at step {step}, seed {seed}"),
            )
            .await;
        }
    }
    same_figures(&mut conn, program, &format!("the end, seed {seed}")).await;
    passnum::stats::fold(&mut conn).await.unwrap();
    same_figures(&mut conn, program, &format!("the end, folded, seed {seed}")).await;
    let shown = passnum::stats::program_stats_from_rollups(&mut conn, program, Utc::now())
        .await
        .unwrap();
    println!(
        "shown at the end: autonomy {:?}, themes {:?}, publics {:?}",
        shown.autonomy.evaluated,
        shown
            .services
            .by_theme
            .iter()
            .map(|(k, f)| (k, f.people))
            .collect::<Vec<_>>(),
        shown
            .by_public
            .iter()
            .map(|(k, f)| (k, f.handed_out))
            .collect::<Vec<_>>()
    );
    // Folded, nothing is left to correct but what reached its last day, and the
    // statistics really come from the rollups.
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM stats_changes").await,
        0
    );
    assert!(
        count(
            &mut conn,
            &format!("SELECT count(*) AS n FROM stats_book_cells WHERE program_id = '{program}'")
        )
        .await
            > 0
    );
    // And through the API, as the funder's and the operator's answers.
    let res = app
        .get(
            &format!("/api/v1/programs/{}/stats", t.program),
            &operator.token,
        )
        .await;
    let body = res.ok(200);
    assert_eq!(
        body["checkbooks"]["issued"].as_i64(),
        Some(books.len() as i64)
    );
}

/// A scan's mark for the rollups is one appended row (docs/BENCHMARKS.md,
/// redemption): its ticket's claim appends nothing of its own, and the one row of the
/// redemption is enough for its checkbook to be counted again. A reversal, which the
/// trigger of the claim does not skip, marks the checkbook too.
#[tokio::test]
async fn a_scan_appends_one_row_and_its_checkbook_is_counted_again() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(10).await;
    let site = labelled_site(&app).await;
    let program: Uuid = t.program.parse().unwrap();
    let book = app
        .issue(&t.prescriber, &t.program, Some(json!({"reference": "M1"})))
        .await
        .ok(201)
        .clone();
    let tickets = book["tickets"].as_array().unwrap().clone();
    let mut conn = app.db.connect().await;
    passnum::stats::fold(&mut conn).await.unwrap();
    let appended = "SELECT count(*) AS n FROM stats_changes";
    assert_eq!(count(&mut conn, appended).await, 0);

    let redemption = redeem_for(&app, &site, &tickets[0], None)
        .await
        .ok(201)
        .clone();
    assert_eq!(
        count(&mut conn, appended).await,
        1,
        "a scan appends one row for the rollups"
    );
    same_figures(&mut conn, program, "one scan, not folded").await;
    passnum::stats::fold(&mut conn).await.unwrap();
    same_figures(&mut conn, program, "one scan, folded").await;
    assert_eq!(redeemed_in_rollups(&mut conn, program).await, 1);

    app.post(
        &format!(
            "/api/v1/redemptions/{}/reverse",
            redemption["id"].as_str().unwrap()
        ),
        &site.token,
        json!({}),
    )
    .await
    .ok(200);
    assert!(
        count(&mut conn, appended).await >= 2,
        "a reversal marks its checkbook"
    );
    passnum::stats::fold(&mut conn).await.unwrap();
    same_figures(&mut conn, program, "reversed, folded").await;
    assert_eq!(redeemed_in_rollups(&mut conn, program).await, 0);
}

/// The tickets redeemed in `program`, as the rollups say.
async fn redeemed_in_rollups(conn: &mut AsyncPgConnection, program: Uuid) -> i64 {
    passnum::stats::program_stats_from_rollups(conn, program, Utc::now())
        .await
        .unwrap()
        .totals
        .tickets_redeemed
}
