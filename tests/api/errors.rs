//! Bad input of every kind gets a 4xx problem+json with a stable code, never a 500.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn malformed_requests_get_a_problem_naming_what_is_wrong() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let url = format!("{}/api/v1/organizations", app.address);
    let post = |body: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&operator.token)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        (
            "malformed JSON",
            post("{\"kind\": \"site\", "),
            400,
            "malformed_json",
            None,
        ),
        ("empty body", post(""), 400, "malformed_json", None),
        (
            "wrong type",
            post(r#"{"kind":"site","name":42,"email":"a@b.fr","postcode":"70000","city":"V"}"#),
            422,
            "validation_failed",
            Some("name"),
        ),
        (
            "unknown enum value",
            post(r#"{"kind":"bank","name":"x","email":"a@b.fr","postcode":"70000","city":"V"}"#),
            422,
            "validation_failed",
            Some("kind"),
        ),
        (
            "missing field",
            post(r#"{"kind":"site","name":"x","postcode":"70000","city":"V"}"#),
            422,
            "validation_failed",
            Some("email"),
        ),
        (
            "unknown field",
            post(
                r#"{"kind":"site","name":"x","email":"a@b.fr","postcode":"70000","city":"V","colour":"red"}"#,
            ),
            422,
            "validation_failed",
            Some("colour"),
        ),
        (
            "array instead of object",
            post("[]"),
            422,
            "validation_failed",
            None,
        ),
        (
            "not JSON content type",
            app.client
                .post(&url)
                .bearer_auth(&operator.token)
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "oversized body",
            app.client
                .post(&url)
                .bearer_auth(&operator.token)
                .header("content-type", "application/json")
                .body(format!("{{\"name\":\"{}\"}}", "x".repeat(300 * 1024))),
            413,
            "payload_too_large",
            None,
        ),
        (
            "invalid UUID in path",
            app.client
                .get(format!("{}/api/v1/organizations/not-a-uuid", app.address))
                .bearer_auth(&operator.token),
            400,
            "invalid_id",
            None,
        ),
        (
            "invalid UUID in a nested path",
            app.client
                .post(format!("{}/api/v1/sites/123/label/suspend", app.address))
                .bearer_auth(&operator.token),
            400,
            "invalid_id",
            None,
        ),
        (
            "unknown route",
            app.client
                .get(format!("{}/api/v1/nothing-here", app.address)),
            404,
            "not_found",
            None,
        ),
        (
            "unknown method",
            app.client
                .delete(format!("{}/api/v1/organizations", app.address))
                .bearer_auth(&operator.token),
            404,
            "not_found",
            None,
        ),
        (
            "bad query value",
            app.client
                .get(format!("{}/api/v1/organizations?limit=many", app.address))
                .bearer_auth(&operator.token),
            400,
            "invalid_query",
            None,
        ),
    ];
    for (case, request, status, code, field) in cases {
        let res = app.raw(request).await;
        assert_eq!(res.status.as_u16(), status, "{case}: {}", res.text);
        let problem = res.problem(status, code);
        assert_eq!(problem["field"].as_str(), field, "{case}: {}", res.text);
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            !detail.contains("serde") && !detail.contains("diesel") && !detail.contains("SQL"),
            "{case}: {detail}"
        );
    }
    let all = app.get("/api/v1/organizations", &operator.token).await;
    assert_eq!(
        all.ok(200)["items"].as_array().unwrap().len(),
        1,
        "no organisation was half-created"
    );
}

#[tokio::test]
async fn problem_details_are_french_sentences_for_people() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let res = app
        .post(
            "/api/v1/organizations",
            &operator.token,
            json!({"kind": "site", "name": "x", "email": "a@b.fr", "city": "V"}),
        )
        .await;
    assert_eq!(
        res.problem(422, "validation_failed")["detail"],
        "Le champ « postcode » est obligatoire."
    );
    let res = app
        .post("/api/v1/organizations", &operator.token, json!({"kind": "site", "name": "x", "email": "a@b.fr", "postcode": "7000", "city": "V"}))
        .await;
    let detail = res.problem(422, "validation_failed")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("cinq chiffres"), "{detail}");
}

/// Every route of the OpenAPI document, every method it declares, with garbage ids,
/// bodies and queries, with and without a token: never a 5xx, always problem+json.
#[tokio::test]
async fn no_route_answers_500_to_garbage() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let agent = app.member_of_new("site", "agent").await;
    let doc = passnum::api::openapi();
    let doc = serde_json::to_value(&doc).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let ids = [
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        "%00",
        "1e3",
    ];
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        "{\"x\":1}",
        "\"text\"",
        "{\"email\":[],\"password\":{}}",
        "{\"valid_from\":\"2026-13-45\",\"valid_until\":null}",
    ];
    let queries = [
        "",
        "?limit=-1",
        "?cursor=%FF",
        "?kind=x&near=1,2,3&radius_km=NaN&postcode=%00",
    ];
    let mut checked = 0;
    for (template, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for id in ids {
                let path = template.replace("{id}", id);
                for query in queries {
                    for token in [
                        None,
                        Some(operator.token.as_str()),
                        Some(agent.token.as_str()),
                    ] {
                        for body in bodies {
                            let mut req = app
                                .client
                                .request(method.clone(), format!("{}{path}{query}", app.address));
                            if let Some(token) = token {
                                req = req.bearer_auth(token);
                            }
                            if method != Method::GET {
                                req = req.header("content-type", "application/json").body(body);
                            }
                            let res = app.raw(req).await;
                            checked += 1;
                            assert!(
                                res.status.as_u16() < 500,
                                "{method} {path}{query} body {body:?}: {} {}",
                                res.status,
                                res.text
                            );
                            if res.status.as_u16() >= 400 {
                                assert_eq!(
                                    res.content_type(),
                                    "application/problem+json",
                                    "{method} {path}{query}: {}",
                                    res.text
                                );
                            }
                            if method == Method::GET {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} requests were tried");
}

#[tokio::test]
async fn values_the_database_cannot_hold_are_refused_not_failed() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    app.login("a\u{0}b@example.org", "whatever-password")
        .await
        .problem(422, "validation_failed");
    let site = app.organization("site", json!({})).await;
    let id = site["id"].as_str().unwrap();
    for (from, until, field) in [
        ("-5000-01-01", "2026-12-31", "valid_from"),
        ("2026-01-01", "+200000-01-01", "valid_until"),
        ("1850-01-01", "2026-01-01", "valid_from"),
    ] {
        let res = app
            .post(
                &format!("/api/v1/sites/{id}/label"),
                &operator.token,
                json!({"valid_from": from, "valid_until": until}),
            )
            .await;
        assert_eq!(res.status.as_u16(), 422, "{from}..{until}: {}", res.text);
        assert_eq!(res.body["field"], field, "{}", res.text);
    }
    let funder = app.organization("funder", json!({})).await;
    let res = app
        .post(
            "/api/v1/programs",
            &operator.token,
            json!({"name": "Gros", "ticket_value": "200000.00", "tickets_per_checkbook": 1, "validity_days": 10, "budget": "1000000000.00", "funders": [{"organization_id": funder["id"], "share": "1"}]}),
        )
        .await;
    assert_eq!(
        res.problem(422, "validation_failed")["field"],
        "ticket_value"
    );
}
