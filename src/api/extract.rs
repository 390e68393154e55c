//! Request extractors whose every refusal is a problem+json with a French sentence:
//! JSON bodies ([`ApiJson`]), path ids and query strings (via the error handlers
//! installed by [`configure_extractors`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest body accepted, shared with the extractor through app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body, deserialized with the path of the field at fault on error.
pub struct ApiJson<T>(pub T);

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(256 * 1024);
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Le corps de la requête doit être du JSON (en-tête Content-Type: application/json).",
                ));
            }
            if declared_length.is_some_and(|n| n > limit) {
                return Err(too_large(limit));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::bad_request(
                        "malformed_body",
                        "Le corps de la requête n’a pas pu être lu en entier.",
                    )
                    .with_source(anyhow::anyhow!("{e}"))
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(ApiJson)
        })
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "Le corps de la requête dépasse la taille permise ({} Kio).",
            limit / 1024
        ),
    )
}

/// Parses a JSON object body into `T`, turning serde's message into a French sentence that
/// names the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "malformed_json",
            "Le corps de la requête est vide : un objet JSON est attendu.",
        ));
    }
    // PostgreSQL's text cannot hold a NUL character: refused here, for every field.
    if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Le texte envoyé contient un caractère nul (\\u0000), qui n’est accepté dans aucun champ.",
        ));
    }
    // Every body of this API is an object; serde would also read a struct from an
    // array, which no client means.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde_json::Value>(body).is_ok()
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Le corps de la requête doit être un objet JSON ({ … }).",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        describe_json_error(&path, &inner)
    })?;
    deserializer
        .end()
        .map_err(|e| describe_json_error(".", &e))?;
    Ok(value)
}

/// Turns an already parsed JSON value into `T`, with the same French errors.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        describe_json_error(&path, &err.into_inner())
    })
}

fn describe_json_error(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    if matches!(
        err.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return ApiError::bad_request(
            "malformed_json",
            format!(
                "Le corps de la requête n’est pas un JSON valide (ligne {}, colonne {}).",
                err.line(),
                err.column()
            ),
        );
    }
    let message = err.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    let path = if path == "." {
        String::new()
    } else {
        path.to_string()
    };
    let join = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let (field, detail) = if let Some(name) = between(&message, "missing field `", "`") {
        (
            join(name),
            format!("Le champ « {} » est obligatoire.", join(name)),
        )
    } else if let Some(name) = between(&message, "unknown field `", "`") {
        // The path already ends with the unexpected field's name.
        let field = if path.is_empty() {
            name.to_string()
        } else {
            path.clone()
        };
        let detail = format!("Le champ « {field} » n’est pas prévu ici.");
        (field, detail)
    } else if let Some(value) = between(&message, "unknown variant `", "`") {
        let expected = message
            .split("expected ")
            .nth(1)
            .map(|e| e.replace('`', "").replace("one of ", ""))
            .unwrap_or_default();
        (
            path.clone(),
            format!(
                "La valeur « {value} » n’est pas acceptée pour « {path} » ; valeurs possibles : {expected}."
            ),
        )
    } else if message.starts_with("invalid type") {
        let expected = message
            .split("expected ")
            .nth(1)
            .map(french_type)
            .unwrap_or("autre chose");
        (
            path.clone(),
            format!("Le champ « {path} » n’a pas le bon type : {expected} est attendu."),
        )
    } else if message.starts_with("invalid value") || message.starts_with("invalid length") {
        let expected = message
            .split("expected ")
            .nth(1)
            .map(french_type)
            .unwrap_or("une autre valeur");
        (
            path.clone(),
            format!("La valeur du champ « {path} » n’est pas valide : {expected} est attendu."),
        )
    } else if CHRONO_MESSAGES.iter().any(|m| message.contains(m)) {
        (
            path.clone(),
            format!(
                "Le champ « {path} » n’est pas une date valide : AAAA-MM-JJ est attendu (exemple : 2026-12-31)."
            ),
        )
    } else {
        (
            path.clone(),
            format!("La valeur du champ « {path} » n’est pas valide."),
        )
    };
    let err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        detail,
    );
    if field.is_empty() {
        err
    } else {
        err.with_field(field)
    }
}

/// What chrono says of a date or time it cannot read.
const CHRONO_MESSAGES: &[&str] = &[
    "input is out of range",
    "input contains invalid characters",
    "premature end of input",
    "trailing input",
    "input is not enough",
    "input is ambiguous",
];

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn french_type(expected: &str) -> &'static str {
    let e = expected.to_ascii_lowercase();
    if e.contains("uuid") {
        "un identifiant (UUID)"
    } else if e.contains("date") {
        "une date AAAA-MM-JJ"
    } else if e.contains("string") || e.contains("str") {
        "du texte entre guillemets"
    } else if e.contains("bool") {
        "true ou false"
    } else if e.contains("f64") || e.contains("f32") || e.contains("float") {
        "un nombre"
    } else if e.contains("u8")
        || e.contains("u16")
        || e.contains("u32")
        || e.contains("u64")
        || e.contains("i32")
        || e.contains("i64")
        || e.contains("integer")
    {
        "un nombre entier"
    } else if e.contains("sequence") || e.contains("vec") {
        "une liste"
    } else if e.contains("struct") || e.contains("map") {
        "un objet"
    } else {
        "une autre forme"
    }
}

/// Installs the error handlers of actix's own extractors (path, query), so that an
/// invalid id in a path or a bad query parameter is a 400 problem, not a bare text.
pub fn configure_extractors(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    body_limit: usize,
) {
    cfg.app_data(BodyLimit(body_limit))
        .app_data(web::PathConfig::default().error_handler(|_err, req| {
            let segment = req
                .match_info()
                .iter()
                .map(|(_, v)| v.to_string())
                .next()
                .unwrap_or_default();
            ApiError::bad_request(
                "invalid_id",
                format!("« {segment} » n’est pas un identifiant valide : un UUID est attendu (exemple : 0193a1f2-7c4e-7d2a-9b1e-3f5c6d7e8f90)."),
            )
            .into()
        }))
        .app_data(web::QueryConfig::default().error_handler(|err, _req| {
            let message = err.to_string();
            let detail = match between(&message, "unknown variant `", "`") {
                Some(value) => format!("La valeur « {value} » n’est pas acceptée dans l’adresse."),
                None => "Un paramètre de l’adresse n’est pas valide.".to_string(),
            };
            ApiError::bad_request("invalid_query", detail).into()
        }))
        .app_data(web::JsonConfig::default().limit(body_limit).error_handler(|err, _req| {
            ApiError::bad_request("malformed_json", "Le corps de la requête n’est pas un JSON valide.")
                .with_source(anyhow::anyhow!("{err}"))
                .into()
        }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        email: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Funder,
        Site,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        kind: Kind,
        count: u32,
        inner: Option<Inner>,
    }

    #[test]
    fn json_errors_name_the_field_in_french() {
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("", "malformed_json", None, "vide"),
            ("{\"name\": ", "malformed_json", None, "ligne 1"),
            (
                "{\"kind\":\"site\",\"count\":1}",
                "validation_failed",
                Some("name"),
                "« name » est obligatoire",
            ),
            (
                "{\"name\":\"x\",\"kind\":\"bank\",\"count\":1}",
                "validation_failed",
                Some("kind"),
                "« bank »",
            ),
            (
                "{\"name\":\"x\",\"kind\":\"site\",\"count\":\"3\"}",
                "validation_failed",
                Some("count"),
                "nombre entier",
            ),
            (
                "{\"name\":\"x\",\"kind\":\"site\",\"count\":-1}",
                "validation_failed",
                Some("count"),
                "n’est pas valide : un nombre entier",
            ),
            (
                "{\"name\":\"x\",\"kind\":\"site\",\"count\":1,\"extra\":1}",
                "validation_failed",
                Some("extra"),
                "pas prévu",
            ),
            (
                "{\"name\":\"x\",\"kind\":\"site\",\"count\":1,\"inner\":{}}",
                "validation_failed",
                Some("inner.email"),
                "« inner.email » est obligatoire",
            ),
            (
                "{\"name\":\"x\",\"kind\":\"site\",\"count\":1} trailing",
                "malformed_json",
                None,
                "JSON valide",
            ),
            ("[1,2]", "validation_failed", None, ""),
            (
                "{\"name\":\"a\\u0000b\"}",
                "validation_failed",
                None,
                "caractère nul",
            ),
        ];
        for (body, code, field, phrase) in cases {
            let err = parse_json::<Body>(body.as_bytes()).expect_err(body);
            let problem = err.problem();
            assert_eq!(problem.code, *code, "case {body}: {problem:?}");
            assert_eq!(problem.field.as_deref(), *field, "case {body}: {problem:?}");
            assert!(problem.detail.contains(phrase), "case {body}: {problem:?}");
            assert!(problem.status < 500);
        }
        let ok: Body = parse_json(b"{\"name\":\"x\",\"kind\":\"funder\",\"count\":2}").unwrap();
        assert!(matches!(ok.kind, Kind::Funder));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_client_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Err(err) = parse_json::<Body>(&bytes) {
                proptest::prop_assert!(err.problem().status < 500);
            }
        }
    }
}
