//! A checkbook's documents: the printable PDF (one checkbook, a whole print run) and a
//! ticket's QR code. Their issuing prescriber's only: the codes are bearer secrets.

use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::views::{code_of, display_serial};
use crate::api::AppState;
use crate::auth::Caller;
use crate::checkbooks::{self, IssuedCheckbook};
use crate::codes::CodeKeys;
use crate::documents::{self, CheckbookSheet, Coupon};
use crate::domain::{Coordinates, french_date};
use crate::error::{ApiError, ApiResult, Problem};
use crate::money::Money;
use crate::organizations;
use crate::programs::{self, Program};

/// What a printed checkbook shows.
pub(super) async fn sheet(
    conn: &mut AsyncPgConnection,
    keys: &CodeKeys,
    retention_months: u32,
    program: &Program,
    book: &IssuedCheckbook,
) -> ApiResult<CheckbookSheet> {
    let funders = programs::funders_of(conn, program.id).await?;
    let mut funder_names = Vec::new();
    for f in &funders {
        if let Some(org) = organizations::find_organization(conn, f.funder_id).await? {
            funder_names.push(org.name);
        }
    }
    let operator = organizations::operator(conn).await?;
    let prescriber = organizations::find_organization(conn, book.checkbook.prescriber_id).await?;
    let notice = documents::beneficiary_notice(&documents::NoticeParties {
        prescriber: prescriber.as_ref().map(|p| p.name.clone()),
        operator: operator
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_default(),
        operator_email: operator.as_ref().map(|o| o.email.clone()),
        retention_months,
    });
    let operator = operator.map(|o| o.name).unwrap_or_default();
    let fallback = prescriber.as_ref().and_then(|p| {
        Some(Coordinates {
            latitude: p.latitude?,
            longitude: p.longitude?,
        })
    });
    let postcode = book
        .checkbook
        .beneficiary_postcode
        .clone()
        .or_else(|| prescriber.as_ref().map(|p| p.postcode.clone()));
    let nearby = organizations::nearby_sites(
        conn,
        french_date(Utc::now()),
        postcode.as_deref(),
        fallback,
        5,
    )
    .await?;
    Ok(CheckbookSheet {
        number: book.checkbook.number.clone(),
        program_name: program.name.clone(),
        funders: funder_names,
        operator_name: operator,
        expires_on: book.checkbook.valid_until,
        beneficiary_reference: book.checkbook.beneficiary_reference.clone(),
        notice,
        tickets: book
            .tickets
            .iter()
            .map(|t| {
                Ok(Coupon {
                    serial: display_serial(&t.serial),
                    code: code_of(keys, t)?,
                    value: Money::from_decimal_unchecked(t.value).decimal(),
                })
            })
            .collect::<ApiResult<_>>()?,
        nearby_sites: nearby
            .into_iter()
            .map(|n| documents::NearbySite {
                name: n.site.name,
                address: n.site.address,
                postcode: n.site.postcode,
                city: n.site.city,
                distance_km: n.distance_km,
            })
            .collect(),
    })
}

async fn pdf_response(sheets: Vec<CheckbookSheet>, filename: String) -> ApiResult<HttpResponse> {
    let pdf = web::block(move || documents::render_checkbooks(&sheets))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{filename}\""),
        ))
        .body(pdf))
}

/// The printable A4 checkbook: one detachable coupon per ticket with its QR code.
/// Its issuing prescriber only: anyone else gets 404, the operator included (the
/// codes are bearer secrets).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/checkbooks/{id}/pdf")]
pub async fn checkbook_pdf(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.conn().await?;
    let book = checkbooks::issued_checkbook(&mut conn, &caller, id.into_inner()).await?;
    let program = checkbooks::program_of(&mut conn, &book.checkbook).await?;
    let sheet = sheet(
        &mut conn,
        &state.codes,
        state.settings.beneficiary_retention_months,
        &program,
        &book,
    )
    .await?;
    drop(conn);
    pdf_response(vec![sheet], format!("{}.pdf", book.checkbook.number)).await
}

/// A whole print run as one PDF. Its issuing prescriber only (404 for anyone else,
/// the operator included).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/print-runs/{id}/pdf")]
pub async fn print_run_pdf(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.conn().await?;
    let (run, books) = checkbooks::visible_print_run(&mut conn, &caller, id.into_inner()).await?;
    if !checkbooks::is_issuer(&caller, run.prescriber_id) {
        return Err(ApiError::not_found());
    }
    let Some(first) = books.first() else {
        return Err(ApiError::not_found());
    };
    let program = checkbooks::program_of(&mut conn, &first.checkbook).await?;
    let mut sheets = Vec::with_capacity(books.len());
    // The same directory for the whole run: stock has no beneficiary yet.
    let template = sheet(
        &mut conn,
        &state.codes,
        state.settings.beneficiary_retention_months,
        &program,
        first,
    )
    .await?;
    for book in &books {
        let tickets = book
            .tickets
            .iter()
            .map(|t| {
                Ok(Coupon {
                    serial: display_serial(&t.serial),
                    code: code_of(&state.codes, t)?,
                    value: Money::from_decimal_unchecked(t.value).decimal(),
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        sheets.push(CheckbookSheet {
            number: book.checkbook.number.clone(),
            expires_on: book.checkbook.valid_until,
            beneficiary_reference: book.checkbook.beneficiary_reference.clone(),
            tickets,
            ..template.clone()
        });
    }
    drop(conn);
    pdf_response(sheets, format!("tirage-{}.pdf", run.id)).await
}

/// A ticket's QR code as SVG. Its issuing prescriber only (404 for anyone else, the
/// operator included).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/tickets/{id}/qr.svg")]
pub async fn ticket_qr_svg(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.conn().await?;
    let ticket = checkbooks::issued_ticket(&mut conn, &caller, id.into_inner()).await?;
    let svg = documents::qr_svg(&code_of(&state.codes, &ticket)?).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

/// A ticket's QR code as PNG. Its issuing prescriber only (404 for anyone else, the
/// operator included).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/tickets/{id}/qr.png")]
pub async fn ticket_qr_png(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.conn().await?;
    let ticket = checkbooks::issued_ticket(&mut conn, &caller, id.into_inner()).await?;
    let png = documents::qr_png(&code_of(&state.codes, &ticket)?).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}
