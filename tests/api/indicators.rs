//! Statistical secrecy and open indicators: exact figures for groups of five people
//! or more, nothing that singles out one person, and the program's indicators
//! published without a token only when the operator says so.

use chrono::{Datelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};
use crate::stats::{labelled_site, redeem};

struct World {
    program: String,
    funder: Actor,
    prescriber: Actor,
    site: Actor,
}

/// Eleven beneficiaries aged 30: six job seekers in 70000 (two used two tickets
/// each, three one ticket, one none), five employed people in 70100 (one ticket
/// each).
async fn world(app: &TestApp) -> World {
    let t = app.funded_territory(20).await;
    let funder = app.user_in(&t.funders[0], "agent").await;
    let site = labelled_site(app).await;
    let year = passnum::domain::french_date(Utc::now()).year();
    for i in 0..11 {
        let (situation, postcode) = if i < 6 {
            ("job_seeker", "70000")
        } else {
            ("employed", "70100")
        };
        let book = app
            .issue(
                &t.prescriber,
                &t.program,
                Some(
                    json!({"reference": format!("REF-{i}"), "birth_year": year - 30,
                            "situation": situation, "postcode": postcode}),
                ),
            )
            .await
            .ok(201)
            .clone();
        let tickets = book["tickets"].as_array().unwrap();
        let used = match i {
            0 | 1 => 2,
            2..=4 | 6.. => 1,
            _ => 0,
        };
        for ticket in &tickets[..used] {
            redeem(app, &site, ticket).await;
        }
    }
    World {
        program: t.program,
        funder,
        prescriber: t.prescriber,
        site,
    }
}

fn row<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row {key} = {value} in {rows}"))
}

async fn stats(app: &TestApp, actor: &Actor, program: &str) -> Value {
    app.get(&format!("/api/v1/programs/{program}/stats"), &actor.token)
        .await
        .ok(200)
        .clone()
}

/// Beneficiary breakdowns, as (list, key member).
const BENEFICIARY_LISTS: [(&str, &str); 4] = [
    ("by_age_band", "age_band"),
    ("by_situation", "situation"),
    ("by_postcode_prefix", "postcode_prefix"),
    ("by_commune", "postcode"),
];

#[tokio::test]
async fn groups_of_five_people_or_more_are_given_exactly_by_commune() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let s = stats(&app, &w.funder, &w.program).await;
    let communes = &s["by_commune"];
    assert_eq!(
        communes
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["postcode"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["70000", "70100"],
        "the département's two communes apart"
    );
    assert_eq!(
        row(communes, "postcode", "70000"),
        &json!({"postcode": "70000", "checkbooks_handed_out": 6, "checkbooks_started": 5,
                "tickets_handed_out": 60, "tickets_redeemed": 7, "amount_redeemed": "70.00",
                "usage_rate": "0.1167"})
    );
    assert_eq!(
        row(communes, "postcode", "70100"),
        &json!({"postcode": "70100", "checkbooks_handed_out": 5, "checkbooks_started": 5,
                "tickets_handed_out": 50, "tickets_redeemed": 5, "amount_redeemed": "50.00",
                "usage_rate": "0.1000"})
    );
    assert_eq!(
        row(&s["by_postcode_prefix"], "postcode_prefix", "70")["checkbooks_handed_out"],
        11
    );
    assert_eq!(
        row(&s["by_age_band"], "age_band", "26_44")["checkbooks_handed_out"],
        11
    );
    // The CSV by commune says the same.
    let csv = app
        .get(
            &format!(
                "/api/v1/programs/{}/stats.csv?breakdown=commune&format=rfc4180",
                w.program
            ),
            &w.funder.token,
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.text
            .contains("70000,Code postal 70000,6,5,60,7,70.00,0.1167\r\n"),
        "{}",
        csv.text
    );
    assert!(
        csv.text
            .contains("70100,Code postal 70100,5,5,50,5,50.00,0.1000\r\n"),
        "{}",
        csv.text
    );
}

/// The attacker knows the one person of 25000, aged 80 and retired, was given a
/// checkbook today, and compares the statistics before and after, breakdown by
/// breakdown, and each breakdown with the totals.
#[tokio::test]
async fn one_person_cannot_be_singled_out() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let before = stats(&app, &w.funder, &w.program).await;
    let year = passnum::domain::french_date(Utc::now()).year();
    let rare = app
        .issue(
            &w.prescriber,
            &w.program,
            Some(json!({"reference": "RARE", "birth_year": year - 80,
                        "situation": "retired", "postcode": "25000"})),
        )
        .await
        .ok(201)
        .clone();
    redeem(&app, &w.site, &rare["tickets"][0]).await;
    let after = stats(&app, &w.funder, &w.program).await;
    assert_eq!(after["checkbooks"]["handed_out"], 12);

    // Fixed groups: nothing moved where anyone can see.
    for list in ["by_age_band", "by_situation"] {
        assert_eq!(
            before[list], after[list],
            "{list} tells nothing of the newcomer"
        );
    }
    for (band, key) in [("65_plus", "age_band"), ("retired", "situation")] {
        let list = if key == "age_band" {
            "by_age_band"
        } else {
            "by_situation"
        };
        let r = row(&after[list], key, band);
        assert_eq!(r["checkbooks_handed_out"], "<5", "{r}");
        assert!(r["tickets_redeemed"].is_null(), "{r}");
    }
    // Places: 25000 (and its département) is never named.
    let text = after.to_string();
    assert!(!text.contains("25000"), "{text}");
    assert!(
        !after["by_postcode_prefix"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["postcode_prefix"] == "25"),
        "{text}"
    );
    assert_eq!(
        row(&after["by_commune"], "postcode", "other")["checkbooks_handed_out"],
        "<5"
    );
    // No breakdown leaves one hidden cell to be worked out as total − the others.
    for (list, key) in BENEFICIARY_LISTS {
        for column in ["checkbooks_handed_out", "checkbooks_started"] {
            let hidden = after[list]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r[column] == "<5")
                .count();
            assert_ne!(hidden, 1, "{list}.{column} by {key}: {}", after[list]);
        }
    }
    // Nor does the CSV.
    let csv = app
        .get(
            &format!(
                "/api/v1/programs/{}/stats.csv?breakdown=age_band&format=rfc4180",
                w.program
            ),
            &w.funder.token,
        )
        .await;
    assert!(
        csv.text.contains("65_plus,65 ans et plus,<5,<5,,,,\r\n"),
        "{}",
        csv.text
    );
}

async fn public(app: &TestApp, program: &str, query: &str) -> crate::helpers::Response {
    app.request(
        Method::GET,
        &format!("/api/v1/public/programs/{program}/indicators{query}"),
        None,
        None,
    )
    .await
}

#[tokio::test]
async fn open_indicators_are_published_only_when_the_operator_says_so() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let operator = app.operator().await;

    // Not public: the same 404 as a program that does not exist.
    let hidden = public(&app, &w.program, "").await;
    let missing = public(&app, &Uuid::new_v4().to_string(), "").await;
    hidden.problem(404, "not_found");
    missing.problem(404, "not_found");
    assert_eq!(hidden.body["detail"], missing.body["detail"]);
    public(&app, &w.program, "?format=csv")
        .await
        .problem(404, "not_found");

    app.patch(
        &format!("/api/v1/programs/{}", w.program),
        &operator.token,
        json!({"public_indicators": true}),
    )
    .await
    .ok(200);
    let open = public(&app, &w.program, "").await;
    let open = open.ok(200).clone();
    let mut funders_view = stats(&app, &w.funder, &w.program).await;
    funders_view["as_of"] = open["as_of"].clone();
    assert_eq!(open, funders_view, "the funders' aggregates");
    let text = open.to_string();
    for personal in ["REF-0", "REF-10"] {
        assert!(!text.contains(personal), "no beneficiary reference");
    }

    let csv = public(&app, &w.program, "?format=csv").await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.content_type().starts_with("text/csv"));
    assert!(
        csv.text
            .starts_with("tableau,cle,libelle,indicateur,valeur\r\n"),
        "{}",
        csv.text
    );
    for line in [
        "entonnoir,chequiers_remis,Chéquiers remis aux bénéficiaires,nombre,11\r\n",
        "par_commune,70000,Code postal 70000,chequiers_remis,6\r\n",
        "par_commune,70100,Code postal 70100,chequiers_entames,5\r\n",
        "par_age,65_plus,65 ans et plus,chequiers_remis,<5\r\n",
    ] {
        assert!(csv.text.contains(line), "{line} in {}", csv.text);
    }
    assert!(!csv.text.contains("REF-"));
    public(&app, &w.program, "?format=xml")
        .await
        .problem(422, "validation_failed");

    // Withdrawn: gone again.
    app.patch(
        &format!("/api/v1/programs/{}", w.program),
        &operator.token,
        json!({"public_indicators": false}),
    )
    .await
    .ok(200);
    public(&app, &w.program, "").await.problem(404, "not_found");
}

#[tokio::test]
async fn the_programs_with_public_indicators_are_listed_for_anyone() {
    let app = TestApp::spawn().await;
    let published = app.funded_territory(1).await;
    let private = app.funded_territory(1).await;
    let operator = app.operator().await;
    let list = async |app: &TestApp| {
        app.request(Method::GET, "/api/v1/public/programs", None, None)
            .await
            .ok(200)
            .clone()
    };
    assert_eq!(list(&app).await, json!({"items": [], "next_cursor": null}));
    app.patch(
        &format!("/api/v1/programs/{}", published.program),
        &operator.token,
        json!({"public_indicators": true}),
    )
    .await
    .ok(200);
    let name = app
        .get(
            &format!("/api/v1/programs/{}", published.program),
            &operator.token,
        )
        .await
        .ok(200)["name"]
        .clone();
    assert_eq!(
        list(&app).await["items"],
        json!([{"id": published.program, "name": name}]),
        "only the published one ({} is not)",
        private.program
    );
}
