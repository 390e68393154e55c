//! Open data: a program's indicators for anyone, without a token, once the operator
//! has made them public (`PATCH /programs/{id}` `{public_indicators: true}`).
//!
//! The same aggregates as the funders' statistics (`GET /programs/{id}/stats`), with
//! the same statistical secrecy (`src/stats/disclosure.rs`): no figure about fewer
//! than five people, no place where fewer than five live. Nothing personal is in the
//! statistics in the first place: organisations are named, beneficiaries never.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::stats::{Breakdown, ProgramStatsView, breakdown_table};
use crate::csv_cells::{self, Cell, Dialect};
use crate::domain::ValidationError;
use crate::error::{ApiError, ApiResult, Problem};
use crate::stats::{self, ProgramStats};

/// A program whose indicators are public.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedProgram {
    pub id: Uuid,
    pub name: String,
}

/// The programs with public indicators, all on one page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedPrograms {
    pub items: Vec<PublishedProgram>,
    /// Always `null`: a territory publishes a handful of programs, listed at once.
    pub next_cursor: Option<String>,
}

/// The programs whose indicators the operator made public (no token), by name: where
/// to read `GET /public/programs/{id}/indicators`. Programs not public are not listed.
#[utoipa::path(
    tag = "public",
    responses((status = 200, body = PublishedPrograms)),
)]
#[get("/public/programs")]
pub async fn published_programs(
    state: web::Data<AppState>,
) -> ApiResult<web::Json<PublishedPrograms>> {
    let mut conn = state.conn().await?;
    let programs = stats::published::published_programs(&mut conn).await?;
    Ok(web::Json(PublishedPrograms {
        items: programs
            .into_iter()
            .map(|p| PublishedProgram {
                id: p.id,
                name: p.name,
            })
            .collect(),
        next_cursor: None,
    }))
}

/// In which form.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndicatorsQuery {
    /// Absent (or `json`): JSON; `csv`: one CSV file of every table.
    pub format: Option<String>,
}

/// Every table in one long ("tidy") file: one line per figure, `tableau, cle,
/// libelle, indicateur, valeur`, as open-data portals like it.
fn open_data_csv(stats: &ProgramStats) -> String {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    // Every table, in order, named in French (`par_age`).
    for breakdown in Breakdown::ALL {
        let table = breakdown.file_name().replace('-', "_");
        let (header, lines) = breakdown_table(stats, breakdown);
        // Tables of groups begin with (key, French label); the others with their key.
        let labelled = !matches!(
            breakdown,
            Breakdown::Month | Breakdown::Prescriber | Breakdown::Site
        );
        let skip = if labelled { 2 } else { 1 };
        for line in lines {
            let key = line.first().cloned().unwrap_or(Cell::Empty);
            let label = match line.get(1) {
                Some(l) if labelled => l.clone(),
                _ => Cell::Empty,
            };
            for (name, value) in header.iter().zip(line.iter()).skip(skip) {
                rows.push(vec![
                    Cell::Text(table.clone()),
                    key.clone(),
                    label.clone(),
                    Cell::Text((*name).to_owned()),
                    value.clone(),
                ]);
            }
        }
    }
    csv_cells::file(
        Dialect::Rfc4180,
        &["tableau", "cle", "libelle", "indicateur", "valeur"],
        &rows,
    )
}

/// A program's open indicators (no token): when the operator has made them public,
/// the program's statistics as its funders see them — checkbooks, tickets, amounts,
/// usage rate, by month, prescriber, site, age band, situation, public, département
/// and commune — with statistical secrecy: a count under five people is `"<5"` (the
/// figures about them `null`), places with fewer than five people are not named
/// (`other`). `?format=csv`: every table in one UTF-8 file (`,`, decimal point, no
/// BOM), one line per figure: `tableau,cle,libelle,indicateur,valeur`, named
/// `indicateurs-{id}.csv`. A program that is not public answers 404, as one that
/// does not exist.
#[utoipa::path(
    tag = "public",
    params(("id" = Uuid, Path), IndicatorsQuery),
    responses(
        (status = 200, body = ProgramStatsView, description = "JSON, or `text/csv` with `?format=csv`"),
        (status = 404, description = "`not_found`: no such program, or its indicators are not public", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown `format`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/programs/{id}/indicators")]
pub async fn program_indicators(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<IndicatorsQuery>,
) -> ApiResult<HttpResponse> {
    let csv = match query.format.as_deref().map(str::trim) {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::validation(ValidationError::new(
                "format",
                "Format inconnu : laissez-le vide pour du JSON, ou demandez « csv ».",
            )));
        }
    };
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let stats = stats::public_indicators(&mut conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    drop(conn);
    if csv {
        let name = format!("indicateurs-{id}");
        Ok(crate::api::settlements::csv_response(&name).body(open_data_csv(&stats)))
    } else {
        Ok(HttpResponse::Ok().json(ProgramStatsView::from(stats)))
    }
}
