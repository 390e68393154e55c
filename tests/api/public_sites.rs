use chrono::Days;
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn labelled_site(
    app: &TestApp,
    name: &str,
    postcode: &str,
    position: Option<(f64, f64)>,
    from_days: i64,
    until_days: i64,
) -> String {
    let operator = app.operator().await;
    let mut extra = json!({"name": name, "postcode": postcode, "address": "1 rue de la Gare"});
    if let Some((lat, lon)) = position {
        extra["latitude"] = json!(lat);
        extra["longitude"] = json!(lon);
    }
    let site = app.organization("site", extra).await;
    let id = site["id"].as_str().unwrap().to_string();
    let today = passnum::domain::french_date(chrono::Utc::now());
    let shift = |d: i64| {
        if d >= 0 {
            today + Days::new(d as u64)
        } else {
            today - Days::new((-d) as u64)
        }
    };
    app.post(
        &format!("/api/v1/sites/{id}/label"),
        &operator.token,
        json!({"valid_from": shift(from_days), "valid_until": shift(until_days)}),
    )
    .await
    .ok(200);
    id
}

fn names(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

async fn public(app: &TestApp, query: &str) -> crate::helpers::Response {
    app.request(
        reqwest::Method::GET,
        &format!("/api/v1/public/sites{query}"),
        None,
        None,
    )
    .await
}

#[tokio::test]
async fn only_sites_with_an_active_label_are_listed() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    labelled_site(
        &app,
        "Médiathèque de Vesoul",
        "70000",
        Some((47.6226, 6.1557)),
        -10,
        100,
    )
    .await;
    labelled_site(&app, "Label échu", "70000", None, -100, -1).await;
    labelled_site(&app, "Label futur", "70000", None, 5, 100).await;
    let suspended = labelled_site(&app, "Label suspendu", "70000", None, -10, 100).await;
    app.post(
        &format!("/api/v1/sites/{suspended}/label/suspend"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    app.organization("site", json!({"name": "Sans label"}))
        .await;
    app.organization("prescriber", json!({"name": "CCAS"}))
        .await;

    let res = public(&app, "").await;
    assert_eq!(names(res.ok(200)), vec!["Médiathèque de Vesoul"]);
    let site = &res.body["items"][0];
    assert_eq!(site["postcode"], "70000");
    assert_eq!(site["city"], "Vesoul");
    assert!(
        site.get("email").is_none(),
        "the directory shows no contact e-mail: {site}"
    );
    assert!(site.get("distance_km").is_none());

    app.post(
        &format!("/api/v1/sites/{suspended}/label/reinstate"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    let res = public(&app, "").await;
    assert_eq!(names(res.ok(200)).len(), 2);
}

#[tokio::test]
async fn sites_are_found_by_postcode_prefix() {
    let app = TestApp::spawn().await;
    labelled_site(&app, "Vesoul", "70000", None, 0, 10).await;
    labelled_site(&app, "Lure", "70200", None, 0, 10).await;
    labelled_site(&app, "La Rochelle", "17000", None, 0, 10).await;
    let cases = [
        ("70", vec!["Vesoul", "Lure"]),
        ("702", vec!["Lure"]),
        ("17000", vec!["La Rochelle"]),
        ("33", vec![]),
    ];
    for (prefix, expected) in cases {
        let res = public(&app, &format!("?postcode={prefix}")).await;
        let mut got = names(res.ok(200));
        got.sort();
        let mut expected: Vec<String> = expected.into_iter().map(String::from).collect();
        expected.sort();
        assert_eq!(got, expected, "prefix {prefix}");
    }
    let res = public(&app, "?postcode=7A").await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "postcode");
}

#[tokio::test]
async fn sites_near_a_point_come_nearest_first_within_the_radius() {
    let app = TestApp::spawn().await;
    labelled_site(&app, "Lure", "70200", Some((47.6836, 6.4969)), 0, 10).await;
    labelled_site(&app, "Vesoul", "70000", Some((47.6226, 6.1557)), 0, 10).await;
    labelled_site(&app, "Gray", "70100", Some((47.4448, 5.5920)), 0, 10).await;
    // No position, in a postcode where nothing of ours is located: not near anything.
    labelled_site(&app, "Sans position", "70300", None, 0, 10).await;
    labelled_site(&app, "Marseille", "13001", Some((43.2965, 5.3698)), 0, 10).await;

    // From Vesoul's town hall: Vesoul (~0 km), Lure (~26 km), Gray (~47 km).
    let res = public(&app, "?near=47.6233,6.1556&radius_km=60").await;
    let body = res.ok(200);
    assert_eq!(names(body), vec!["Vesoul", "Lure", "Gray"]);
    let distances: Vec<f64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["distance_km"].as_f64().unwrap())
        .collect();
    assert!(distances[0] < 1.0, "{distances:?}");
    assert!((distances[1] - 26.5).abs() < 2.0, "{distances:?}");
    assert!((distances[2] - 46.9).abs() < 3.0, "{distances:?}");

    let res = public(&app, "?near=47.6233,6.1556&radius_km=30").await;
    assert_eq!(names(res.ok(200)), vec!["Vesoul", "Lure"]);
    // Default radius 20 km.
    let res = public(&app, "?near=47.6233,6.1556").await;
    assert_eq!(names(res.ok(200)), vec!["Vesoul"]);
    // Combined with a postcode prefix.
    let res = public(&app, "?near=47.6233,6.1556&radius_km=60&postcode=701").await;
    assert_eq!(names(res.ok(200)), vec!["Gray"]);
    // Paging keeps the order.
    let first = public(&app, "?near=47.6233,6.1556&radius_km=60&limit=2").await;
    assert_eq!(names(first.ok(200)), vec!["Vesoul", "Lure"]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = public(
        &app,
        &format!("?near=47.6233,6.1556&radius_km=60&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(second.ok(200)), vec!["Gray"]);
    assert!(second.body["next_cursor"].is_null());

    for (query, field) in [
        ("?near=47.6", "near"),
        ("?near=abc,def", "near"),
        ("?near=95,6", "near"),
        ("?near=47,6&radius_km=0", "radius_km"),
        ("?near=47,6&radius_km=1000", "radius_km"),
    ] {
        let res = public(&app, query).await;
        assert_eq!(
            res.problem(422, "validation_failed")["field"],
            field,
            "{query}"
        );
    }
    public(&app, "?near=47,6&radius_km=abc")
        .await
        .problem(400, "invalid_query");
}

#[tokio::test]
async fn the_directory_pages_through_every_site_with_its_entry() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(labelled_site(&app, &format!("Lieu {n}"), "70000", None, -10, 100).await);
    }
    app.patch(
        &format!("/api/v1/organizations/{}", ids[3]),
        &operator.token,
        json!({
            "phone": "03 84 75 12 34",
            "opening_hours": "Mardi 14 h – 18 h\nSamedi 9 h – 12 h",
            "accessibility": "Accès de plain-pied",
            "website": "https://lieu3.example.org",
            "iban": "FR76 3000 6000 0112 3456 7890 189",
        }),
    )
    .await
    .ok(200);
    // Pages of three, following the cursor: every site once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?postcode=70&limit=3&cursor={c}"),
            None => "?postcode=70&limit=3".to_string(),
        };
        let page = public(&app, &query).await;
        let body = page.ok(200).clone();
        assert!(body["items"].as_array().unwrap().len() <= 3);
        seen.extend(names(&body));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|n| format!("Lieu {n}")).collect();
    assert_eq!(seen, expected);
    // The entry's public fields, never the IBAN.
    let page = public(&app, "?postcode=70000&limit=200").await;
    let body = page.ok(200);
    let entry = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Lieu 3")
        .unwrap();
    assert_eq!(entry["phone"], "0384751234");
    assert_eq!(
        entry["opening_hours"],
        "Mardi 14 h – 18 h\nSamedi 9 h – 12 h"
    );
    assert_eq!(entry["accessibility"], "Accès de plain-pied");
    assert_eq!(entry["website"], "https://lieu3.example.org");
    assert!(entry.get("iban").is_none());
    assert!(!body.to_string().contains("0189"), "{body}");
    // A cursor past the end is refused in French.
    public(&app, "?postcode=70&cursor=99")
        .await
        .problem(400, "invalid_cursor");
}

#[tokio::test]
async fn a_site_without_coordinates_is_found_near_a_point_by_its_postcode() {
    let app = TestApp::spawn().await;
    // Gray (70100) is located by a site of ours there; Rioz (70190) by nobody.
    labelled_site(
        &app,
        "Centre social de Gray",
        "70100",
        Some((47.4446, 5.5917)),
        -10,
        100,
    )
    .await;
    labelled_site(&app, "Médiathèque de Gray", "70100", None, -10, 100).await;
    labelled_site(&app, "Tiers-lieu de Rioz", "70190", None, -10, 100).await;
    let res = public(&app, "?near=47.45,5.60&radius_km=10").await;
    let body = res.ok(200);
    assert_eq!(
        names(body),
        vec!["Centre social de Gray", "Médiathèque de Gray"],
        "Rioz has no position to measure from"
    );
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["distance_approximate"], false);
    assert_eq!(items[1]["distance_approximate"], true);
    assert!(
        items[1]["latitude"].is_null(),
        "its own position stays unknown"
    );
    assert_eq!(items[0]["distance_km"], items[1]["distance_km"]);
    // By postcode every one is found.
    let res = public(&app, "?postcode=701").await;
    assert_eq!(names(res.ok(200)).len(), 3);
}
