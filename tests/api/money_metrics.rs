//! `GET /metrics` tells where the money stands (issue 15, point 6): each program's
//! cover, redemptions by outcome, the outbox, unsettled finished months and the runs
//! of `passnum check`, read from the database at each scrape.

use chrono::{Datelike, Days, Utc};
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Actor, Options, Territory, TestApp};

async fn scrape(app: &TestApp) -> String {
    let res = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(res.status.as_u16(), 200, "{}", res.text);
    res.text
}

/// The value of the sample of `name` whose labels contain `labels` (`""`: the first).
fn value(text: &str, name: &str, labels: &str) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (metric, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            (metric == name || metric.starts_with(&format!("{name}{{"))) && metric.contains(labels)
        })
        .and_then(|l| l.rsplit_once(' ').map(|(_, v)| v.to_string()))
}

fn must(text: &str, name: &str, labels: &str) -> String {
    value(text, name, labels).unwrap_or_else(|| panic!("no {name} {{{labels}}} in:\n{text}"))
}

/// Every `(name, labels, value)` of `expected` is in `text`, each failure named.
fn expect(text: &str, expected: &[(&str, &str, &str)]) {
    for (name, labels, want) in expected {
        assert_eq!(&must(text, name, labels), want, "{name} {{{labels}}}");
    }
}

async fn sql(app: &TestApp, query: String) {
    let mut conn = app.db.connect().await;
    diesel::sql_query(query).execute(&mut conn).await.unwrap();
}

/// A funded program, a checkbook of 10 tickets handed out, and a labelled site.
async fn scene(app: &TestApp) -> (Territory, serde_json::Value, Actor) {
    let t = app.funded_territory(1).await;
    let book = app
        .issue(
            &t.prescriber,
            &t.program,
            Some(json!({"reference": "MET-1"})),
        )
        .await
        .ok(201)
        .clone();
    let site = app.labelled_site_agent(json!({})).await;
    (t, book, site)
}

#[tokio::test]
async fn money_metrics_follow_scans_mails_unsettled_months_and_checks() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (t, book, site) = scene(&app).await;
    let program = format!("program_id=\"{}\"", t.program);

    let before = scrape(&app).await;
    expect(
        &before,
        &[
            ("passnum_money_metrics_up", "", "1"),
            ("passnum_program_held_euros", &program, "10000.00"),
            ("passnum_program_outstanding_euros", &program, "100.00"),
            ("passnum_program_payable_euros", &program, "0.00"),
            ("passnum_program_cover_margin_euros", &program, "9900.00"),
            ("passnum_program_cover_level", &program, "0"),
            ("passnum_unsettled_finished_months", "", "0"),
            // No check ever ran.
            ("passnum_check_last_run_timestamp_seconds", "", "0"),
        ],
    );
    assert_eq!(
        value(&before, "passnum_redemptions_total", "outcome=\"redeemed\""),
        None
    );

    // Two scans and a refused one: the ledger's buckets and the outcomes move.
    let tickets = book["tickets"].as_array().unwrap();
    let mut redemptions = Vec::new();
    for ticket in &tickets[..2] {
        let r = app.redeem(&site, ticket).await.ok(201).clone();
        redemptions.push(r["id"].as_str().unwrap().to_string());
    }
    app.redeem(&site, &tickets[0])
        .await
        .problem(409, "already_redeemed");
    let after = scrape(&app).await;
    expect(
        &after,
        &[
            ("passnum_program_outstanding_euros", &program, "80.00"),
            ("passnum_program_payable_euros", &program, "20.00"),
            ("passnum_program_owed_euros", &program, "100.00"),
            ("passnum_redemptions_total", "outcome=\"redeemed\"", "2"),
            (
                "passnum_redemptions_total",
                "outcome=\"already_redeemed\"",
                "1",
            ),
        ],
    );

    // A scan moved to last month: a finished month is unsettled, until settled.
    let today = passnum::domain::french_date(Utc::now());
    let this_month = today.with_day(1).unwrap();
    let last_month = (this_month - Days::new(1)).with_day(1).unwrap();
    let day = last_month.with_day(15).unwrap();
    sql(&app, format!(
        "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', scanned_at = '{day} 12:00:00 Europe/Paris' WHERE id = '{}'",
        redemptions[0]
    ))
    .await;
    let month = format!("month=\"{}\"", last_month.format("%Y-%m"));
    let unsettled = scrape(&app).await;
    assert_eq!(
        must(&unsettled, "passnum_unsettled_finished_months", ""),
        "1"
    );
    assert_eq!(
        must(&unsettled, "passnum_unsettled_month_payable_euros", &month),
        "10.00"
    );
    let end: i64 = must(
        &unsettled,
        "passnum_unsettled_month_end_timestamp_seconds",
        &month,
    )
    .parse()
    .unwrap();
    assert!(
        (this_month
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
            - end)
            .abs()
            <= 7200,
        "the month ends at midnight, Paris time: {end}"
    );
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": last_month, "period_end": this_month - Days::new(1)}),
    )
    .await
    .ok(201);
    let settled = scrape(&app).await;
    assert_eq!(must(&settled, "passnum_unsettled_finished_months", ""), "0");
    assert_eq!(
        value(&settled, "passnum_unsettled_month_payable_euros", &month),
        None
    );

    // The outbox: an invitation waits (no worker in tests), a mail given up fails.
    let mails_before: i64 = must(&settled, "passnum_outbox_mails", "status=\"waiting\"")
        .parse()
        .unwrap();
    let org = app.organization("site", json!({})).await;
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"email": "invite-metrics@example.org", "role": "agent"}),
    )
    .await
    .ok(201);
    let mails = scrape(&app).await;
    let waiting: i64 = must(&mails, "passnum_outbox_mails", "status=\"waiting\"")
        .parse()
        .unwrap();
    assert_eq!(waiting, mails_before + 1);
    assert_ne!(
        must(
            &mails,
            "passnum_outbox_oldest_waiting_timestamp_seconds",
            ""
        ),
        "0"
    );
    sql(
        &app,
        "UPDATE outbox SET status = 'failed', attempts = 12, last_error = 'refused' WHERE recipient = 'invite-metrics@example.org'".into(),
    )
    .await;
    let failed = scrape(&app).await;
    assert_eq!(
        must(&failed, "passnum_outbox_mails", "status=\"failed\""),
        "1"
    );

    // `passnum check`'s runs, as recorded in job_runs: a pass, then a failure.
    sql(&app, format!(
        "INSERT INTO job_runs (job, day, node, started_at, finished_at, outcome)
         VALUES ('check', '{}', 'test', '2026-11-01 02:00:00Z', '2026-11-01 02:05:00Z', '{{\"holds\": true}}')",
        today - Days::new(2)
    ))
    .await;
    let passed = scrape(&app).await;
    let five_past_two = "1793498700";
    assert_eq!(
        must(&passed, "passnum_check_last_run_timestamp_seconds", ""),
        five_past_two
    );
    assert_eq!(
        must(&passed, "passnum_check_last_success_timestamp_seconds", ""),
        five_past_two
    );
    assert_eq!(must(&passed, "passnum_check_last_run_failed", ""), "0");
    sql(&app, format!(
        "INSERT INTO job_runs (job, day, node, started_at, finished_at, outcome)
         VALUES ('check', '{}', 'test', '2026-11-02 02:00:00Z', '2026-11-02 02:01:00Z', '{{\"holds\": false, \"violations\": 1}}')",
        today - Days::new(1)
    ))
    .await;
    let failed = scrape(&app).await;
    assert_eq!(must(&failed, "passnum_check_last_run_failed", ""), "1");
    assert_eq!(
        must(&failed, "passnum_check_last_success_timestamp_seconds", ""),
        five_past_two,
        "the last success stays the one that passed"
    );
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_node_cut_from_its_database_still_answers_its_own_metrics() {
    let app = TestApp::spawn_with(Options {
        through_switch: true,
        ..Options::default()
    })
    .await;
    assert_eq!(
        must(&scrape(&app).await, "passnum_money_metrics_up", ""),
        "1"
    );
    app.switch.as_ref().unwrap().cut();
    let cut = scrape(&app).await;
    assert_eq!(must(&cut, "passnum_money_metrics_up", ""), "0");
    assert!(cut.contains("passnum_http_requests_total"), "{cut}");
    assert_eq!(value(&cut, "passnum_unsettled_finished_months", ""), None);
    app.switch.as_ref().unwrap().restore();
}

#[tokio::test]
async fn with_a_metrics_token_only_its_bearer_reads_the_metrics() {
    let token = passnum::secrets::random_hex(32);
    let app = TestApp::spawn_with(Options {
        adjust: Some(Box::new({
            let token = token.clone();
            move |s| s.metrics_token = Some(token.into())
        })),
        ..Options::default()
    })
    .await;
    let url = format!("{}/metrics", app.address);
    app.raw(app.client.get(&url))
        .await
        .problem(401, "unauthenticated");
    app.raw(app.client.get(&url).bearer_auth("wrong-token"))
        .await
        .problem(401, "unauthenticated");
    let operator = app.operator().await;
    app.raw(app.client.get(&url).bearer_auth(&operator.token))
        .await
        .problem(401, "unauthenticated");
    let res = app.raw(app.client.get(&url).bearer_auth(&token)).await;
    assert_eq!(res.status.as_u16(), 200);
    assert_eq!(must(&res.text, "passnum_money_metrics_up", ""), "1");
}

/// The names `passnum_…` that a deployment file reads (histogram series by their
/// family's name).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("passnum_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = name.strip_suffix("_bucket").unwrap_or(name);
        names.insert(name.to_string());
        rest = &tail[end..];
    }
    names
}

/// A rule or a panel that reads a metric nobody writes would stay silent forever.
#[tokio::test]
async fn every_metric_the_alerts_and_the_dashboard_read_is_exposed() {
    let app = TestApp::spawn().await;
    let (_, book, site) = scene(&app).await;
    app.redeem(&site, &book["tickets"][0]).await.ok(201);
    let exposed = scrape(&app).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/passnum.json",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() > 5, "{file}: {names:?}");
        for name in names {
            assert!(
                exposed.contains(&format!("# TYPE {name} ")),
                "{file} reads {name}, which GET /metrics does not expose:\n{exposed}"
            );
        }
    }
}
