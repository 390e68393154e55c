//! `?limit=&cursor=` paging and the `{items, next_cursor}` envelope of list endpoints.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad_request(
                "invalid_query",
                format!("« limit » doit être compris entre 1 et {MAX_LIMIT}."),
            )),
        }
    }

    /// The cursor of a list ordered by id: the last id seen.
    pub fn after_id(&self) -> Result<Option<Uuid>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| invalid_cursor()))
            .transpose()
    }

    /// The cursor of a list ordered otherwise: a position.
    pub fn offset(&self) -> Result<usize, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| c.parse::<usize>().map_err(|_| invalid_cursor()))
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

/// Rows fetched by id with `limit + 1`: the page's rows, and the cursor of the next
/// page when there is one.
pub fn split_page<T>(
    mut rows: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| id(r).to_string())
    } else {
        None
    };
    (rows, next_cursor)
}

fn invalid_cursor() -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        "Le curseur de pagination n’est pas valide : reprenez la liste depuis le début.",
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass it as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}
