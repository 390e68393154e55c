//! Settlements (operator) and statements (scoped to their organisation).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::pagination::{Page, PageQuery, split_page};
use crate::auth::Caller;
use crate::csv_cells::Dialect;
use crate::domain::ValidationError;
use crate::error::{ApiError, ApiResult, Problem};
use crate::money::Money;
use crate::settlement::{self, SettleError, Settlement, Statement};
use crate::statuses::StatementKind;

/// A settlement refused or failed, as the client sees it.
impl From<SettleError> for ApiError {
    fn from(err: SettleError) -> Self {
        match err {
            SettleError::Invalid(invalid) => ApiError::validation(invalid),
            SettleError::PeriodNotOver { .. } => ApiError::conflict(
                "period_not_over",
                "Une période ne se règle qu’une fois terminée : son dernier jour doit être passé.",
            )
            .with_field("period_end"),
            SettleError::PeriodAlreadySettled { .. } => ApiError::conflict(
                "period_already_settled",
                "Cette période recouvre une période déjà réglée : aucun chèque n’est payé deux fois.",
            ),
            SettleError::MixedFaceValues => ApiError::internal(err),
            SettleError::Db(db) => db.into(),
            SettleError::Mail(mail) => mail.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    #[schema(example = "2026-10-01")]
    pub period_start: NaiveDate,
    #[schema(example = "2026-10-31")]
    pub period_end: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementView {
    pub id: Uuid,
    /// Numbered without gaps per year, e.g. `REL-2026-000042`.
    pub number: String,
    /// `site_payout`, `funder_bill`, `commission` or `credit_note`.
    pub kind: StatementKind,
    pub organization_id: Uuid,
    pub settlement_id: Option<Uuid>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub lines: i32,
    pub total: String,
    /// SHA-256 of the statement's CSV, set once when the statement is sealed (right
    /// after its settlement commits; `null` only in that moment).
    pub sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    /// A site payout confirmed transferred (`POST /statements/{id}/paid`): the day…
    pub paid_on: Option<NaiveDate>,
    /// …and the bank's reference.
    pub bank_reference: Option<String>,
}

impl StatementView {
    /// The views of `statements`, with their payments where made.
    pub async fn with_payments(
        conn: &mut diesel_async::AsyncPgConnection,
        statements: &[Statement],
    ) -> ApiResult<Vec<StatementView>> {
        let ids: Vec<Uuid> = statements.iter().map(|s| s.id).collect();
        let mut paid = crate::payouts::payments_of(conn, &ids).await?;
        Ok(statements
            .iter()
            .map(|s| {
                let mut view = StatementView::from(s);
                if let Some(p) = paid.remove(&s.id) {
                    view.paid_on = Some(p.paid_on);
                    view.bank_reference = Some(p.bank_reference);
                }
                view
            })
            .collect())
    }
}

impl From<&Statement> for StatementView {
    fn from(s: &Statement) -> Self {
        StatementView {
            id: s.id,
            number: s.number.clone(),
            kind: s.kind,
            organization_id: s.organization_id,
            settlement_id: s.settlement_id,
            period_start: s.period_start,
            period_end: s.period_end,
            lines: s.lines,
            total: Money::from_decimal_unchecked(s.total).to_string(),
            sha256: s.sha256.clone(),
            created_at: s.created_at,
            paid_on: None,
            bank_reference: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementView {
    pub id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub statements: Vec<StatementView>,
    /// Site payout statements left out of the SEPA file (`sepa.xml`): their site
    /// had no IBAN when the settlement was made.
    pub missing_iban: Vec<crate::api::payouts::MissingIbanView>,
}

async fn settlement_view(
    conn: &mut diesel_async::AsyncPgConnection,
    s: &Settlement,
    statements: &[Statement],
) -> ApiResult<SettlementView> {
    let batch = crate::payouts::batch(conn, s.id).await?;
    Ok(SettlementView {
        id: s.id,
        period_start: s.period_start,
        period_end: s.period_end,
        created_at: s.created_at,
        statements: StatementView::with_payments(conn, statements).await?,
        missing_iban: batch.missing.iter().map(Into::into).collect(),
    })
}

/// Settles a period (operator admins; an operator agent gets 403 `forbidden`): sites
/// paid, funders billed, statements made, in one transaction. A period overlapping a settled one → 409 `period_already_settled`.
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    request_body = SettlementRequest,
    responses(
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = SettlementView),
        (status = 409, description = "`period_already_settled`, `period_not_over`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/settlements")]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<SettlementRequest>,
) -> ApiResult<HttpResponse> {
    caller.require_operator_admin()?;
    let mut conn = state.conn().await?;
    let settled = settlement::settle_and_seal(
        &mut conn,
        body.period_start,
        body.period_end,
        Some(caller.user_id),
    )
    .await?;
    let view = settlement_view(&mut conn, &settled.settlement, &settled.statements).await?;
    Ok(HttpResponse::Created().json(view))
}

/// A settlement with its statements (operator).
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SettlementView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/settlements/{id}")]
pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SettlementView>> {
    caller.require_operator()?;
    let mut conn = state.conn().await?;
    let s = settlement::find_settlement(&mut conn, id.into_inner())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let statements = settlement::statements_of_settlement(&mut conn, s.id).await?;
    Ok(web::Json(
        settlement_view(&mut conn, &s, &statements).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementFilter {
    /// The operator may filter by organisation; others only ever see their own.
    pub organization_id: Option<Uuid>,
}

/// Statements: the operator's all, everyone else's own.
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    params(StatementFilter, PageQuery),
    responses((status = 200, body = Page<StatementView>))
)]
#[get("/statements")]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    filter: web::Query<StatementFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<StatementView>>> {
    let limit = page.limit()?;
    let organization = if caller.is_operator() {
        filter.organization_id
    } else {
        match filter.organization_id {
            Some(id) if id != caller.organization_id => {
                return Ok(web::Json(Page {
                    items: vec![],
                    next_cursor: None,
                }));
            }
            _ => Some(caller.organization_id),
        }
    };
    let mut conn = state.conn().await?;
    let rows = settlement::list_statements(
        &mut conn,
        organization,
        page.after_id()?,
        i64::from(limit) + 1,
    )
    .await?;
    let (rows, next_cursor) = split_page(rows, limit, |s| s.id);
    let items = StatementView::with_payments(&mut conn, &rows).await?;
    Ok(web::Json(Page { items, next_cursor }))
}

async fn visible_statement(
    caller: &Caller,
    conn: &mut diesel_async::AsyncPgConnection,
    id: Uuid,
) -> ApiResult<Statement> {
    let s = settlement::find_statement(conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if caller.can_see_organization(s.organization_id) {
        Ok(s)
    } else {
        Err(ApiError::not_found())
    }
}

/// One statement (its organisation, the operator).
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = StatementView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/statements/{id}")]
pub async fn get_statement(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<StatementView>> {
    let mut conn = state.conn().await?;
    let s = visible_statement(&caller, &mut conn, id.into_inner()).await?;
    Ok(web::Json(
        StatementView::with_payments(&mut conn, std::slice::from_ref(&s))
            .await?
            .remove(0),
    ))
}

/// Which form of a CSV a download asks for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvQuery {
    /// Absent (or `excel`): the form French Excel opens as it is — UTF-8 with a
    /// byte-order mark, `;` between cells, decimal comma (`9,60`), CRLF line ends.
    /// `rfc4180`: the plain form for scripts — UTF-8 without a byte-order mark, `,`
    /// between cells, decimal point (`9.60`), CRLF line ends (RFC 4180), cells
    /// quoted when they hold a comma, a `"` or a line break. Both forms have a header
    /// line, write times in Paris time with their offset
    /// (`2026-11-03T14:05:00+01:00`) and guard formulas. Anything else: 422
    /// `validation_failed`.
    pub format: Option<String>,
}

/// The CSV form a `format` query asks for, or 422 `validation_failed`.
pub fn requested_dialect(format: Option<&str>) -> ApiResult<Dialect> {
    Dialect::requested(format).ok_or_else(|| {
        ApiError::validation(ValidationError::new(
            "format",
            "Format de fichier inconnu : laissez-le vide pour Excel, ou demandez « rfc4180 ».",
        ))
    })
}

/// The CSV answer's headers: its type (with the charset and the header line) and
/// its file name.
pub fn csv_response(name: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/csv; charset=utf-8; header=present")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}.csv\""),
        ));
    response
}

/// A statement's lines as CSV: one line per ticket (and a fee line per program on a
/// bill), with a header; the lines add up to the total. By default the file is the
/// one issued, in the form it was sealed in: its SHA-256 (header `X-Content-SHA256`)
/// is the statement's. Statements sealed since the Excel form (`csv_format` 3) are
/// in that form (see `format`); earlier ones stay as they were sealed (`;`, decimal
/// point, LF, times in UTC). `?format=rfc4180` draws the same lines in the plain form
/// (any statement; not the sealed bytes, so without `X-Content-SHA256`). A ticket
/// is named by the end of its serial as printed (`…2-ZAT`); a funder's bill names
/// its fee line `Frais de gestion (à payer)`: the tickets used were paid for before
/// they were issued, the fee is the only amount due. A text cell that begins with
/// `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'` (a
/// spreadsheet never runs it as a formula); amounts, negative ones included, stay
/// numbers.
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), CsvQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown `format`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/statements/{id}/csv")]
pub async fn statement_csv(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<CsvQuery>,
) -> ApiResult<HttpResponse> {
    let dialect = requested_dialect(query.format.as_deref())?;
    let mut conn = state.conn().await?;
    let s = visible_statement(&caller, &mut conn, id.into_inner()).await?;
    let sealed_form = dialect != Dialect::Rfc4180;
    let sealed = s.sha256.clone().filter(|_| sealed_form);
    // The lines are written as they are read, by a task that owns the connection.
    let (tx, rx) = tokio::sync::mpsc::channel::<web::Bytes>(8);
    let number = s.number.clone();
    let asked = (!sealed_form).then_some(dialect);
    actix_web::rt::spawn(async move {
        if let Err(err) = settlement::write_csv(&mut conn, &s, asked, &tx).await {
            tracing::error!(statement = %s.number, error = %err, "statement CSV interrupted");
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, actix_web::Error>(chunk), rx))
    });
    let mut response = csv_response(&number);
    if let Some(digest) = sealed {
        response.insert_header(("X-Content-SHA256", digest));
    }
    Ok(response.streaming(body))
}

fn party(org: &crate::organizations::Organization) -> crate::documents::Party {
    crate::documents::Party {
        name: org.name.clone(),
        address: org.address.clone(),
        postcode: org.postcode.clone(),
        city: org.city.clone(),
        siret: org.siret.clone(),
    }
}

/// The operator as a statement names it: its configured legal identity (the
/// demonstration one marked « IDENTITÉ FICTIVE — démonstration »), with the SIRET of
/// its organisation.
fn operator_party(
    identity: &crate::operator_identity::OperatorIdentity,
    org: &crate::organizations::Organization,
) -> crate::documents::Party {
    crate::documents::Party {
        name: identity.display_name(),
        address: Some(identity.address.clone()),
        postcode: identity.postcode.clone(),
        city: identity.city.clone(),
        siret: org.siret.clone(),
    }
}

/// A statement as a PDF to sign and archive: parties, period, totals, subtotals per
/// program and per site, the lines — drawn from the content issued. Since the Excel
/// form (`csv_format` 3) a funder's statement is a "Relevé d'utilisation": the
/// tickets used, covered by the money already paid (nothing to pay), and the fee,
/// if any, as the only amount to pay; a site's says what the site will receive.
/// Earlier statements are drawn with the words they were issued with.
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/statements/{id}/pdf")]
pub async fn statement_pdf(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.conn().await?;
    let s = visible_statement(&caller, &mut conn, id.into_inner()).await?;
    let content = settlement::csv_of(&mut conn, &s).await?;
    let sha256 = match &s.sha256 {
        Some(digest) => digest.clone(),
        None => settlement::seal(&mut conn, &s).await?,
    };
    let issuer = crate::organizations::operator(&mut conn)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let recipient = crate::organizations::find_organization(&mut conn, s.organization_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // The account recorded when the statement was settled, not today's.
    let payout_account = match (s.kind, s.settlement_id) {
        (StatementKind::SitePayout, Some(settlement)) => {
            crate::payouts::accounts_of_settlement(&mut conn, settlement)
                .await?
                .remove(&s.organization_id)
                .and_then(|(_, iban, bic)| {
                    iban.map(|iban| match bic {
                        Some(bic) => format!("{} (BIC {})", iban.masked(), bic.as_str()),
                        None => iban.masked(),
                    })
                })
        }
        _ => None,
    };
    drop(conn);
    let kind = s.kind;
    let lines = settlement::parse_content(&content).map_err(ApiError::internal)?;
    let doc = crate::documents::StatementDocument {
        number: s.number.clone(),
        kind,
        wording: if settlement::CsvFormat::of(s.csv_format).explained() {
            crate::documents::Wording::Explained
        } else {
            crate::documents::Wording::AsSealed
        },
        issued_on: s
            .created_at
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive(),
        period_start: s.period_start,
        period_end: s.period_end,
        issuer: operator_party(&state.settings.operator, &issuer),
        recipient: party(&recipient),
        lines,
        total: s.total,
        sha256,
        payout_account,
    };
    let pdf = web::block(move || crate::documents::render_statement(&doc))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{}.pdf\"", s.number),
        ))
        .body(pdf))
}
