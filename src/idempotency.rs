//! Idempotent requests: the answer given to an `Idempotency-Key` is stored in the
//! same database transaction as the work it answers. A retry with the same key and
//! the same request gets the stored answer and nothing is done twice; the same key
//! with another request is refused (422 `idempotency_key_reused`). Two requests with
//! the same key at the same time: the second waits on the first's row, then reads
//! its answer. Refusals are not stored here (the work rolled back), so a request
//! refused for lack of funds can be retried with the same key once they arrive.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::schema::idempotency_keys;

pub const HEADER: &str = "Idempotency-Key";

/// The key of a request, if it has one; refuses an unusable key.
pub fn key_of(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if !valid_key(key) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "L’en-tête Idempotency-Key doit contenir de 1 à 200 caractères visibles (un UUID par exemple).",
        ));
    }
    Ok(Some(key.to_string()))
}

/// A usable key: 1 to 200 visible ASCII characters (the same rule in a header and
/// in a batch item, so a scan can move from one to the other).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 200 && key.chars().all(|c| c.is_ascii_graphic())
}

/// A fingerprint of what was asked: the route and the body's JSON value.
pub fn fingerprint(scope: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(body.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// A key, with the fingerprint of the request that came with it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub user: Uuid,
    pub scope: &'static str,
    pub key: String,
    pub request_hash: String,
}

/// Inside the use case's transaction, before its work: `Some(answer)` when the key
/// was already answered (the work must not run again), `None` when this request
/// holds the key now (others with the same key wait until the transaction ends).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
) -> Result<Option<(StatusCode, Value)>, ApiError> {
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(claim.user),
            idempotency_keys::scope.eq(claim.scope),
            idempotency_keys::key.eq(&claim.key),
            idempotency_keys::request_hash.eq(&claim.request_hash),
            idempotency_keys::response_status.eq(0i16),
            idempotency_keys::response_body.eq(Value::Null),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        return Ok(None);
    }
    let (hash, status, body): (String, i16, Value) = idempotency_keys::table
        .find((claim.user, claim.scope, &claim.key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::response_status,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .await?;
    if hash != claim.request_hash {
        return Err(key_reused());
    }
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    Ok(Some((status, body)))
}

/// The refusal of a key already used for another request.
pub fn key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "Cette clé d’idempotence a déjà servi pour une autre demande : utilisez une nouvelle clé.",
    )
}

/// Inside the same transaction, after the work: stores the answer of the key.
pub async fn remember(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
    status: StatusCode,
    body: &Value,
) -> Result<(), ApiError> {
    diesel::update(idempotency_keys::table.find((claim.user, claim.scope, &claim.key)))
        .set((
            idempotency_keys::response_status.eq(i16::try_from(status.as_u16()).unwrap_or(200)),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
