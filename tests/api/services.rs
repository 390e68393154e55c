//! Issue 14, point 1: a site's services, the redemption that names one, collective
//! sessions, the directory's theme filter and the statistics by theme and format.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// A labelled site with an admin and an agent, a funded program and `books`
/// checkbooks handed out, each of 10 tickets.
struct Scene {
    admin: Actor,
    agent: Actor,
    site: String,
    program: String,
    books: Vec<Vec<Value>>,
}

async fn scene(app: &TestApp, books: usize) -> Scene {
    let agent = app.labelled_site_agent(json!({"postcode": "70000"})).await;
    let site = agent.org_id.to_string();
    let admin = app.user_in(&site, "admin").await;
    let t = app.funded_territory(books as u32).await;
    let mut issued = Vec::new();
    for i in 0..books {
        let book = app
            .issue(
                &t.prescriber,
                &t.program,
                Some(json!({"reference": format!("B-{i}")})),
            )
            .await;
        issued.push(book.ok(201)["tickets"].as_array().unwrap().clone());
    }
    Scene {
        admin,
        agent,
        site,
        program: t.program,
        books: issued,
    }
}

async fn put_services(
    app: &TestApp,
    who: &Actor,
    site: &str,
    body: Value,
) -> crate::helpers::Response {
    app.request(
        Method::PUT,
        &format!("/api/v1/sites/{site}/services"),
        Some(&who.token),
        Some(body),
    )
    .await
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn redeem_with(
    app: &TestApp,
    site: &Actor,
    key: &str,
    ticket: &Value,
    service: Option<&str>,
) -> crate::helpers::Response {
    let mut body = json!({"code": ticket["code"]});
    if let Some(service) = service {
        body["service_id"] = json!(service);
    }
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&site.token)
            .header("Idempotency-Key", key)
            .json(&body),
    )
    .await
}

fn workshop(title: &str, theme: &str, format: &str) -> Value {
    json!({"title": title, "theme": theme, "format": format, "duration_minutes": 90})
}

#[tokio::test]
async fn themes_are_the_national_list_without_a_token() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::GET, "/api/v1/public/themes", None, None)
        .await;
    let themes = res.ok(200).as_array().unwrap().clone();
    let ids: Vec<&str> = themes.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "premiers_pas",
            "demarches_en_ligne",
            "smartphone",
            "messagerie",
            "securite",
            "emploi",
            "bureautique",
            "parentalite"
        ]
    );
    assert_eq!(themes[0]["label"], "Premiers pas avec l’ordinateur");
}

#[tokio::test]
async fn replacing_services_keeps_the_ids_sent_and_retires_the_rest_readable() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 1).await;
    let first = put_services(
        &app,
        &s.admin,
        &s.site,
        json!([
            workshop("Prendre en main son smartphone", "smartphone", "individual"),
            workshop("Se protéger des arnaques", "securite", "collective"),
        ]),
    )
    .await;
    let first = first.ok(200).clone();
    let [phone, safety] = <[String; 2]>::try_from(ids(&first)).unwrap();
    assert_eq!(first[1]["theme_label"], "Sécurité et arnaques en ligne");

    // A ticket paid for the safety workshop.
    let ticket = &s.books[0][0];
    let used = redeem_with(&app, &s.agent, "k-1", ticket, Some(&safety)).await;
    assert_eq!(used.ok(201)["service_id"], json!(safety));

    // Keep the phone one (renamed), drop the safety one, add a new one.
    let mut kept = workshop("Smartphone : les bases", "smartphone", "individual");
    kept["id"] = json!(phone);
    let second = put_services(
        &app,
        &s.admin,
        &s.site,
        json!([workshop("Chercher un emploi", "emploi", "collective"), kept]),
    )
    .await;
    let second = second.ok(200).clone();
    let now = ids(&second);
    assert_eq!(now.len(), 2);
    assert_eq!(now[1], phone, "the service sent with its id keeps it");
    assert_eq!(second[1]["title"], "Smartphone : les bases");
    assert!(!now.contains(&safety));
    let listed = app
        .get(
            &format!("/api/v1/sites/{}/services", s.site),
            &s.agent.token,
        )
        .await;
    assert_eq!(ids(listed.ok(200)), now);

    // The redemption still names the retired service, which still exists.
    let mine = app.get("/api/v1/redemptions", &s.agent.token).await;
    assert_eq!(mine.ok(200)["items"][0]["service_id"], json!(safety));
    let mut conn = app.db.connect().await;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use passnum::schema::site_services;
    let retired: Option<chrono::DateTime<chrono::Utc>> = site_services::table
        .find(Uuid::parse_str(&safety).unwrap())
        .select(site_services::retired_at)
        .first(&mut conn)
        .await
        .unwrap();
    assert!(retired.is_some());
    // But a new scan cannot name it any more.
    let late = redeem_with(&app, &s.agent, "k-2", &s.books[0][1], Some(&safety)).await;
    assert_eq!(late.problem(422, "unknown_service")["field"], "service_id");

    // Each replacement is in the audit trail (the site's admin reads it).
    let operator = app.operator().await;
    let trail = app
        .get(
            &format!("/api/v1/audit?entity_id={}", s.site),
            &operator.token,
        )
        .await;
    let replaced: Vec<&Value> = trail.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "organization.services_replaced")
        .collect();
    assert_eq!(replaced.len(), 2);
    // Sending the same list again changes nothing and writes no entry.
    let same: Vec<Value> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.as_object_mut().unwrap().remove("theme_label");
            s
        })
        .collect();
    put_services(&app, &s.admin, &s.site, json!(same))
        .await
        .ok(200);
    let trail = app
        .get(
            &format!("/api/v1/audit?entity_id={}", s.site),
            &operator.token,
        )
        .await;
    let count = trail.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "organization.services_replaced")
        .count();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn services_are_validated_and_only_their_editors_replace_them() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 1).await;
    let ok = put_services(
        &app,
        &s.admin,
        &s.site,
        json!([workshop("Atelier e-mail", "messagerie", "collective")]),
    )
    .await;
    let before = ok.ok(200).clone();
    let good = workshop("Atelier", "emploi", "individual");
    let with = |field: &str, value: Value| {
        let mut item = good.clone();
        item[field] = value;
        json!([good.clone(), item])
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown theme",
            with("theme", json!("jardinage")),
            "[1].theme",
        ),
        (
            "unknown format",
            with("format", json!("mixte")),
            "[1].format",
        ),
        ("empty title", with("title", json!("   ")), "[1].title"),
        (
            "long title",
            with("title", json!("x".repeat(121))),
            "[1].title",
        ),
        (
            "no minute",
            with("duration_minutes", json!(0)),
            "[1].duration_minutes",
        ),
        (
            "too long",
            with("duration_minutes", json!(601)),
            "[1].duration_minutes",
        ),
        ("unknown id", with("id", json!(Uuid::new_v4())), "[1].id"),
        (
            "the same id twice",
            json!([
                {"id": before[0]["id"], "title": "A", "theme": "emploi", "format": "individual", "duration_minutes": 30},
                {"id": before[0]["id"], "title": "B", "theme": "emploi", "format": "individual", "duration_minutes": 30},
            ]),
            "[1].id",
        ),
    ];
    for (case, body, field) in cases {
        let res = put_services(&app, &s.admin, &s.site, body).await;
        let problem = res.problem(422, "validation_failed");
        assert!(
            problem["field"]
                .as_str()
                .unwrap_or_default()
                .ends_with(field),
            "{case}: {problem}"
        );
    }
    // An agent may read but not replace; another site's admin sees nothing.
    put_services(&app, &s.agent, &s.site, json!([good.clone()]))
        .await
        .problem(403, "forbidden");
    let other = app.labelled_site_agent(json!({})).await;
    let other_admin = app.user_in(&other.org_id.to_string(), "admin").await;
    put_services(&app, &other_admin, &s.site, json!([good.clone()]))
        .await
        .problem(404, "not_found");
    app.get(&format!("/api/v1/sites/{}/services", s.site), &other.token)
        .await
        .problem(404, "not_found");
    // Nothing was written by the refusals.
    let listed = app
        .get(
            &format!("/api/v1/sites/{}/services", s.site),
            &s.agent.token,
        )
        .await;
    assert_eq!(listed.ok(200), &before);
    // The operator may replace them.
    let operator = app.operator().await;
    put_services(&app, &operator, &s.site, json!([]))
        .await
        .ok(200);
}

#[tokio::test]
async fn a_redemption_names_only_a_live_service_of_its_own_site() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 1).await;
    let mine = put_services(
        &app,
        &s.admin,
        &s.site,
        json!([workshop(
            "Démarches CAF",
            "demarches_en_ligne",
            "individual"
        )]),
    )
    .await;
    let mine = ids(mine.ok(200)).remove(0);
    let other = app.labelled_site_agent(json!({})).await;
    let other_admin = app.user_in(&other.org_id.to_string(), "admin").await;
    let theirs = put_services(
        &app,
        &other_admin,
        &other.org_id.to_string(),
        json!([workshop("Bureautique", "bureautique", "individual")]),
    )
    .await;
    let theirs = ids(theirs.ok(200)).remove(0);

    let ticket = &s.books[0][0];
    let refused = redeem_with(&app, &s.agent, "k-a", ticket, Some(&theirs)).await;
    assert_eq!(
        refused.problem(422, "unknown_service")["field"],
        "service_id"
    );
    // Nothing was written, not even the key's answer: the same key, corrected, goes.
    let done = redeem_with(&app, &s.agent, "k-a", ticket, Some(&mine)).await;
    let done = done.ok(201).clone();
    assert_eq!(done["service_id"], json!(mine));
    assert_eq!(done["session_id"], Value::Null);
    // The same key with the same body gives back the same answer; with another
    // service it is another request.
    let again = redeem_with(&app, &s.agent, "k-a", ticket, Some(&mine)).await;
    assert_eq!(again.ok(201)["id"], done["id"]);
    redeem_with(&app, &s.agent, "k-a", ticket, None)
        .await
        .problem(422, "idempotency_key_reused");
    // A scan that names no service works as before.
    let plain = redeem_with(&app, &s.agent, "k-b", &s.books[0][1], None).await;
    assert_eq!(plain.ok(201)["service_id"], Value::Null);
    app.assert_ledger_invariants().await;
}

async fn session(
    app: &TestApp,
    site: &Actor,
    session: &str,
    service: &str,
    items: Vec<Value>,
) -> crate::helpers::Response {
    app.post(
        "/api/v1/redemptions/sessions",
        &site.token,
        json!({"session_id": session, "service_id": service, "items": items}),
    )
    .await
}

fn item(key: &str, ticket: &Value) -> Value {
    json!({"idempotency_key": key, "code": ticket["code"]})
}

async fn collective_service(app: &TestApp, s: &Scene) -> (String, String) {
    let list = put_services(
        app,
        &s.admin,
        &s.site,
        json!([
            workshop("Atelier smartphone en groupe", "smartphone", "collective"),
            workshop("Rendez-vous individuel", "premiers_pas", "individual"),
        ]),
    )
    .await;
    let [collective, individual] = <[String; 2]>::try_from(ids(list.ok(200))).unwrap();
    (collective, individual)
}

#[tokio::test]
async fn a_collective_session_answers_each_ticket_and_loses_none_for_a_refusal() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 3).await;
    let (collective, _) = collective_service(&app, &s).await;
    // One ticket used beforehand, elsewhere.
    let other = app.labelled_site_agent(json!({"postcode": "70000"})).await;
    app.redeem(&other, &s.books[2][0]).await.ok(201);

    let id = Uuid::new_v4().to_string();
    let res = session(
        &app,
        &s.agent,
        &id,
        &collective,
        vec![
            item("s-1", &s.books[0][0]),
            json!({"idempotency_key": "s-2", "code": "NOT-A-CODE"}),
            item("s-3", &s.books[1][0]),
            item("s-4", &s.books[2][0]),
            // The same ticket twice in the session, under another key.
            item("s-5", &s.books[0][0]),
            json!({"idempotency_key": "s-6", "serial": s.books[1][1]["serial"]}),
        ],
    )
    .await;
    let body = res.ok(200).clone();
    assert_eq!(body["session_id"], json!(id));
    let outcomes: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "redeemed",
            "invalid_code",
            "redeemed",
            "already_redeemed",
            "already_redeemed",
            "redeemed"
        ]
    );
    for i in [0, 2, 5] {
        let r = &body["results"][i]["redemption"];
        assert_eq!(r["session_id"], json!(id), "item {i}");
        assert_eq!(r["service_id"], json!(collective), "item {i}");
    }
    assert_eq!(body["results"][4]["problem"]["by_your_site"], true);
    assert_eq!(body["results"][3]["problem"]["by_your_site"], false);

    // Sent again (a phone that lost the answer): the same answers, nothing more.
    let again = session(
        &app,
        &s.agent,
        &id,
        &collective,
        vec![item("s-1", &s.books[0][0]), item("s-3", &s.books[1][0])],
    )
    .await;
    let again = again.ok(200).clone();
    assert_eq!(
        again["results"][0]["redemption"]["id"],
        body["results"][0]["redemption"]["id"]
    );
    assert_eq!(
        again["results"][1]["redemption"]["id"],
        body["results"][2]["redemption"]["id"]
    );
    let mine = app.get("/api/v1/redemptions", &s.agent.token).await;
    assert_eq!(mine.ok(200)["items"].as_array().unwrap().len(), 3);
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_session_sent_several_times_at_once_redeems_each_ticket_exactly_once() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 1).await;
    let (collective, _) = collective_service(&app, &s).await;
    let id = Uuid::new_v4().to_string();
    let items: Vec<Value> = s.books[0]
        .iter()
        .enumerate()
        .map(|(i, t)| item(&format!("c-{i}"), t))
        .collect();
    let body = json!({"session_id": id, "service_id": collective, "items": items});
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (client, address, token, body) = (
            app.client.clone(),
            app.address.clone(),
            s.agent.token.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(format!("{address}/api/v1/redemptions/sessions"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200);
            res.json::<Value>().await.unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let redemption_ids = |answer: &Value| -> Vec<String> {
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["outcome"], "redeemed", "{r}");
                r["redemption"]["id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let first = redemption_ids(&answers[0]);
    assert_eq!(first.len(), 10);
    for answer in &answers[1..] {
        assert_eq!(
            redemption_ids(answer),
            first,
            "every copy gets the same answers"
        );
    }
    let mine = app.get("/api/v1/redemptions", &s.agent.token).await;
    assert_eq!(mine.ok(200)["items"].as_array().unwrap().len(), 10);
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_session_is_for_one_collective_service_of_the_site() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 1).await;
    let (collective, individual) = collective_service(&app, &s).await;
    let ticket = &s.books[0][0];
    let id = Uuid::new_v4().to_string();
    session(&app, &s.agent, &id, &individual, vec![item("x-1", ticket)])
        .await
        .problem(422, "service_not_collective");
    session(
        &app,
        &s.agent,
        &id,
        &Uuid::new_v4().to_string(),
        vec![item("x-1", ticket)],
    )
    .await
    .problem(422, "unknown_service");
    session(&app, &s.agent, &id, &collective, vec![])
        .await
        .problem(422, "validation_failed");
    session(&app, &s.agent, &id, &collective, vec![item("x-1", ticket)])
        .await
        .ok(200);
    // The same session for another service: refused, nothing redeemed.
    let list = put_services(
        &app,
        &s.admin,
        &s.site,
        json!([
            {"id": collective, "title": "Atelier smartphone en groupe", "theme": "smartphone", "format": "collective", "duration_minutes": 90},
            workshop("Atelier sécurité", "securite", "collective"),
        ]),
    )
    .await;
    let second = ids(list.ok(200)).remove(1);
    session(
        &app,
        &s.agent,
        &id,
        &second,
        vec![item("x-2", &s.books[0][1])],
    )
    .await
    .problem(409, "session_mismatch");
    // An item may not name another service than the session's.
    let res = session(
        &app,
        &s.agent,
        &id,
        &collective,
        vec![
            json!({"idempotency_key": "x-3", "code": s.books[0][2]["code"], "service_id": second}),
        ],
    )
    .await;
    assert_eq!(res.ok(200)["results"][0]["outcome"], "unknown_service");
    // Only sites hold sessions.
    let operator = app.operator().await;
    session(&app, &operator, &id, &collective, vec![item("x-4", ticket)])
        .await
        .problem(403, "forbidden");
    let mine = app.get("/api/v1/redemptions", &s.agent.token).await;
    assert_eq!(mine.ok(200)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_directory_carries_services_and_filters_by_theme() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 1).await;
    put_services(
        &app,
        &s.admin,
        &s.site,
        json!([workshop("Arnaques en ligne", "securite", "collective")]),
    )
    .await
    .ok(200);
    let bare = app.labelled_site_agent(json!({"postcode": "70000"})).await;
    let public = |query: &'static str| {
        let app = &app;
        async move {
            app.request(
                Method::GET,
                &format!("/api/v1/public/sites{query}"),
                None,
                None,
            )
            .await
        }
    };
    let all = public("?postcode=70").await;
    let all = all.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(all.len(), 2);
    let with = all.iter().find(|x| x["id"] == json!(s.site)).unwrap();
    assert_eq!(with["services"][0]["title"], "Arnaques en ligne");
    assert_eq!(with["services"][0]["format"], "collective");
    let without = all.iter().find(|x| x["id"] == json!(bare.org_id)).unwrap();
    assert_eq!(without["services"], json!([]));

    let filtered = public("?postcode=70&theme=securite").await;
    let filtered = filtered.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["id"], json!(s.site));
    let none = public("?theme=emploi").await;
    assert_eq!(none.ok(200)["items"], json!([]));
    let bad = public("?theme=jardinage").await;
    assert_eq!(bad.problem(422, "validation_failed")["field"], "theme");
}

#[tokio::test]
async fn statistics_break_redemptions_down_by_theme_and_format_hiding_small_cells() {
    let app = TestApp::spawn().await;
    let s = scene(&app, 8).await;
    let (collective, individual) = collective_service(&app, &s).await;
    // Six people at the collective smartphone workshop (two tickets each), two at
    // the individual one, and one scan naming nothing.
    let items: Vec<Value> = (0..6)
        .flat_map(|b| (0..2).map(move |t| (b, t)))
        .map(|(b, t)| item(&format!("st-{b}-{t}"), &s.books[b][t]))
        .collect();
    session(
        &app,
        &s.agent,
        &Uuid::new_v4().to_string(),
        &collective,
        items,
    )
    .await
    .ok(200);
    for b in 6..8 {
        redeem_with(
            &app,
            &s.agent,
            &format!("ind-{b}"),
            &s.books[b][0],
            Some(&individual),
        )
        .await
        .ok(201);
    }
    redeem_with(&app, &s.agent, "none", &s.books[7][1], None)
        .await
        .ok(201);
    let operator = app.operator().await;
    let stats = app
        .get(
            &format!("/api/v1/programs/{}/stats", s.program),
            &operator.token,
        )
        .await;
    let stats = stats.ok(200).clone();
    let row = |breakdown: &str, key: &str| -> Value {
        stats[breakdown]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{breakdown} has no {key}: {stats}"))
    };
    assert_eq!(stats["by_theme"].as_array().unwrap().len(), 9);
    assert_eq!(row("by_theme", "smartphone")["people"], 6);
    assert_eq!(row("by_theme", "smartphone")["tickets_redeemed"], 12);
    assert_eq!(row("by_theme", "smartphone")["amount_redeemed"], "120.00");
    assert_eq!(row("by_theme", "premiers_pas")["people"], "<5");
    assert_eq!(
        row("by_theme", "premiers_pas")["tickets_redeemed"],
        Value::Null
    );
    assert_eq!(row("by_theme", "emploi")["people"], "<5");
    assert_eq!(row("by_format", "collective")["people"], 6);
    assert_eq!(row("by_format", "individual")["people"], "<5");
    assert_eq!(row("by_format", "unknown")["people"], "<5");
    assert_eq!(row("by_format", "unknown")["amount_redeemed"], Value::Null);
    // The generic breakdowns (the app's charts, the CSVs) carry them too.
    let generic = |key: &str, row: &str| -> Value {
        let b = stats["breakdowns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["key"] == key);
        let rows = b.unwrap_or_else(|| panic!("no breakdown {key}"))["rows"].clone();
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == row)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        generic("theme", "smartphone"),
        json!({"key": "smartphone", "label": "Utiliser son smartphone", "people": 6,
               "people_started": 6, "tickets_handed_out": null, "tickets_redeemed": 12,
               "amount_redeemed": "120.00", "usage_rate": null})
    );
    assert_eq!(generic("theme", "premiers_pas")["people"], "<5");
    assert_eq!(
        generic("theme", "premiers_pas")["tickets_redeemed"],
        Value::Null
    );
    assert_eq!(generic("format", "collective")["label"], "Collectif");
    assert_eq!(generic("format", "unknown")["people"], "<5");
    let csv = app
        .get(
            &format!(
                "/api/v1/programs/{}/stats.csv?breakdown=theme&format=rfc4180",
                s.program
            ),
            &operator.token,
        )
        .await;
    let csv = csv.text.clone();
    assert!(csv.starts_with("theme,libelle,"), "{csv}");
    assert!(
        csv.contains("\r\nsmartphone,Utiliser son smartphone,6,6,,12,120.00,\r\n"),
        "{csv}"
    );
    assert!(csv.contains("\r\npremiers_pas,"), "{csv}");
    assert!(csv.contains(",<5,<5,,,,\r\n"), "{csv}");
    // The site sees its own redemptions the same way.
    let own = app
        .get(
            &format!("/api/v1/programs/{}/stats", s.program),
            &s.agent.token,
        )
        .await;
    assert_eq!(own.ok(200)["by_format"][1]["people"], 6);
}
