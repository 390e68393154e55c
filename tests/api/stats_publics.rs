//! The breakdown by public (issue 14, point 4): people counted in each of their
//! publics, with the statistics' small-cell secrecy, in the JSON (its own list and
//! the generic `breakdowns`), the CSV of the breakdown and the open data.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Actor, TestApp};
use crate::stats::{keys, labelled_site, redeem, row, stats};

struct World {
    program: String,
    funder: Actor,
    prescriber: Actor,
}

/// Fourteen people: six on RSA (five of them also without a diploma), five young
/// people, one person with a disability, two with no public. Everyone on RSA and every
/// young person used one ticket.
async fn world(app: &TestApp) -> World {
    let t = app.funded_territory(30).await;
    let funder = app.user_in(&t.funders[0], "agent").await;
    let site = labelled_site(app).await;
    let mut people: Vec<(Vec<&str>, bool)> = Vec::new();
    people.extend((0..5).map(|_| (vec!["rsa", "sans_diplome"], true)));
    people.push((vec!["rsa"], true));
    people.extend((0..5).map(|_| (vec!["jeunes"], true)));
    people.push((vec!["handicap"], false));
    people.extend((0..2).map(|_| (vec![], false)));
    for (i, (publics, uses)) in people.into_iter().enumerate() {
        let book = app
            .issue(
                &t.prescriber,
                &t.program,
                Some(json!({"reference": format!("PUB-{i}"), "publics": publics})),
            )
            .await
            .ok(201)
            .clone();
        if uses {
            redeem(app, &site, &book["tickets"][0]).await;
        }
    }
    World {
        program: t.program,
        funder,
        prescriber: t.prescriber,
    }
}

async fn csv(app: &TestApp, actor: &Actor, program: &str, breakdown: &str) -> String {
    let res = app
        .get(
            &format!("/api/v1/programs/{program}/stats.csv?breakdown={breakdown}&format=rfc4180"),
            &actor.token,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.text.clone()
}

/// The lines of the open-data CSV about publics.
async fn open_csv(app: &TestApp, program: &str) -> Vec<String> {
    let url = format!("/api/v1/public/programs/{program}/indicators?format=csv");
    let res = app.request(Method::GET, &url, None, None).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.text
        .lines()
        .filter(|l| l.starts_with("par_public,"))
        .map(str::to_owned)
        .collect()
}

fn generic<'a>(stats: &'a Value, key: &str) -> &'a Value {
    row(&stats["breakdowns"], "key", key)
}

#[tokio::test]
async fn people_count_in_each_of_their_publics_and_small_groups_are_hidden() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let s = stats(&app, &w.funder, &w.program).await;
    let publics = &s["by_public"];
    assert_eq!(
        keys(publics, "public"),
        [
            "rsa",
            "jeunes",
            "demandeur_emploi",
            "senior",
            "handicap",
            "sans_diplome",
            "unknown"
        ],
        "every public, in order, unknown last"
    );
    assert_eq!(
        row(publics, "public", "rsa"),
        &json!({"public": "rsa", "checkbooks_handed_out": 6, "checkbooks_started": 6,
                "tickets_handed_out": 60, "tickets_redeemed": 6, "amount_redeemed": "60.00",
                "usage_rate": "0.1000"})
    );
    assert_eq!(
        row(publics, "public", "sans_diplome")["checkbooks_handed_out"],
        5,
        "the five on RSA without a diploma count in both"
    );
    assert_eq!(row(publics, "public", "jeunes")["checkbooks_started"], 5);
    for hidden in ["handicap", "unknown", "senior"] {
        let r = row(publics, "public", hidden);
        assert_eq!(r["checkbooks_handed_out"], "<5", "{r}");
        assert!(r["tickets_handed_out"].is_null(), "{r}");
        assert!(r["tickets_redeemed"].is_null(), "{r}");
        assert!(r["usage_rate"].is_null(), "{r}");
    }
    assert_eq!(s["checkbooks"]["handed_out"], 14);

    // The generic list says the same, in French.
    let g = generic(&s, "public");
    assert_eq!(g["title"], "Par public prioritaire");
    assert!(g["note"].as_str().unwrap().contains("plusieurs publics"));
    assert_eq!(
        row(&g["rows"], "key", "rsa"),
        &json!({"key": "rsa", "label": "Allocataire du RSA", "people": 6, "people_started": 6,
                "tickets_handed_out": 60, "tickets_redeemed": 6, "amount_redeemed": "60.00",
                "usage_rate": "0.1000"})
    );
    assert_eq!(row(&g["rows"], "key", "handicap")["people"], "<5");
    assert_eq!(
        keys(&s["breakdowns"], "key"),
        [
            "age_band",
            "situation",
            "public",
            "postcode_prefix",
            "commune",
            "theme",
            "format",
            "autonomy_gained"
        ]
    );
    // Each generic breakdown is its own list, row for row.
    for (key, list, member) in [
        ("age_band", "by_age_band", "age_band"),
        ("situation", "by_situation", "situation"),
        ("postcode_prefix", "by_postcode_prefix", "postcode_prefix"),
        ("commune", "by_commune", "postcode"),
    ] {
        let rows = generic(&s, key)["rows"].as_array().unwrap();
        let own = s[list].as_array().unwrap();
        assert_eq!(rows.len(), own.len(), "{key}");
        for (g, o) in rows.iter().zip(own) {
            assert_eq!(g["key"], o[member], "{key}");
            assert_eq!(g["people"], o["checkbooks_handed_out"], "{key}");
            assert_eq!(g["people_started"], o["checkbooks_started"], "{key}");
            assert_eq!(g["amount_redeemed"], o["amount_redeemed"], "{key}");
        }
    }

    // The CSV of the breakdown.
    let text = csv(&app, &w.funder, &w.program, "public").await;
    assert!(
        text.starts_with("public,libelle,chequiers_remis,chequiers_entames,cheques_remis,cheques_utilises,montant_utilise,taux_usage\r\n"),
        "{text}"
    );
    assert!(
        text.contains("rsa,Allocataire du RSA,6,6,60,6,60.00,0.1000\r\n"),
        "{text}"
    );
    assert!(
        text.contains("handicap,En situation de handicap,<5,<5,,,,\r\n"),
        "{text}"
    );

    // A prescriber sees its own checkbooks only: here, all of them.
    let own = stats(&app, &w.prescriber, &w.program).await;
    assert_eq!(own["by_public"], s["by_public"]);
    let other = app.member_of_new("prescriber", "agent").await;
    app.get(
        &format!("/api/v1/programs/{}/stats.csv?breakdown=public", w.program),
        &other.token,
    )
    .await
    .problem(404, "not_found");
}

/// The attacker knows that the only senior of the program was given a checkbook
/// today, and compares the breakdown by public before and after, in the JSON, the
/// breakdown's CSV and the open data.
#[tokio::test]
async fn one_person_cannot_be_singled_out_by_public() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let operator = app.operator().await;
    app.patch(
        &format!("/api/v1/programs/{}", w.program),
        &operator.token,
        json!({"public_indicators": true}),
    )
    .await
    .ok(200);
    let before = stats(&app, &w.funder, &w.program).await;
    let before_csv = csv(&app, &w.funder, &w.program, "public").await;
    let before_open = open_csv(&app, &w.program).await;

    let senior = app
        .issue(
            &w.prescriber,
            &w.program,
            Some(json!({"reference": "SENIOR", "publics": ["senior"]})),
        )
        .await
        .ok(201)
        .clone();
    let site = labelled_site(&app).await;
    redeem(&app, &site, &senior["tickets"][0]).await;

    let after = stats(&app, &w.funder, &w.program).await;
    assert_eq!(after["checkbooks"]["handed_out"], 15, "someone was added");
    assert_eq!(before["by_public"], after["by_public"], "but not where");
    assert_eq!(generic(&before, "public"), generic(&after, "public"));
    assert_eq!(
        before_csv,
        csv(&app, &w.funder, &w.program, "public").await,
        "nor in the CSV"
    );
    let after_open = open_csv(&app, &w.program).await;
    assert_eq!(before_open, after_open, "nor in the open data");
    assert!(
        after_open.contains(&"par_public,senior,Senior,chequiers_remis,<5".to_owned()),
        "{after_open:?}"
    );
    // No breakdown of people leaves one hidden cell to be worked out from the others.
    for b in after["breakdowns"].as_array().unwrap() {
        for column in ["people", "people_started"] {
            let hidden = b["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r[column] == "<5")
                .count();
            assert_ne!(hidden, 1, "{}.{column}: {}", b["key"], b["rows"]);
        }
    }
}
