//! The operator's lookup for support: a checkbook or a ticket found by what a caller
//! can read out on the phone — a checkbook number (`CH-2026-000042`), a ticket's
//! serial (`7K3M-9QX2-ZAT`, dashes and spaces optional) or its end (`2ZAT`, the
//! `serial_hint` that everyone but the issuing prescriber sees; 4 to 10 symbols) —
//! with its whole history, read-only: each ticket's status and redemptions (site,
//! when, reversed, settled), the checkbook's hand-out and cancellation, its mails and
//! their state, and the audit entries of the checkbook, its tickets and redemptions.
//!
//! What is *not* in it: ticket codes and full serials (bearer secrets of the issuing
//! prescriber) and the beneficiary's personal data (the least data: support only
//! needs to know that the checkbook was handed out, and when).
//!
//! One read-only, repeatable-read transaction: the history is a consistent picture.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::audit;
use crate::checkbooks::{self, Checkbook, Ticket};
use crate::codes::Serial;
use crate::db::DbError;
use crate::domain::ValidationError;
use crate::mail::OutboxMail;
use crate::schema::{
    audit_entries, checkbooks as checkbook_rows, organizations, outbox, programs, users,
};
use crate::statuses::RedemptionStatus;

/// At most this many checkbooks in one answer (a short serial end may match several).
pub const MAX_CHECKBOOKS: usize = 20;

/// The symbols a serial is written with (see [`crate::codes`]).
const SERIAL_SYMBOLS: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// What the operator typed, once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A checkbook's number, canonical: `CH-2026-000042`.
    CheckbookNumber(String),
    /// A whole serial (its check symbol right).
    Serial(Serial),
    /// The last 4 to 10 symbols of a serial, uppercase, without dashes.
    SerialEnd(String),
}

impl Query {
    /// Reads a checkbook number, a serial or a serial's end. Spaces, dashes and case
    /// do not matter. Anything else is refused with a French sentence saying what is
    /// accepted (field `q`).
    pub fn parse(raw: &str) -> Result<Query, ValidationError> {
        let unreadable = || {
            ValidationError::new(
                "q",
                "Tapez un numéro de chéquier (CH-2026-000042), un numéro de chèque (7K3M-9QX2-ZAT) ou au moins ses 4 derniers caractères (2ZAT).",
            )
        };
        if raw.chars().count() > 40 {
            return Err(unreadable());
        }
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if let Some(rest) = compact.strip_prefix("CH") {
            if rest.len() > 4 && rest.len() <= 13 && rest.chars().all(|c| c.is_ascii_digit()) {
                let (year, n) = rest.split_at(4);
                let n: u64 = n.parse().map_err(|_| unreadable())?;
                return Ok(Query::CheckbookNumber(format!("CH-{year}-{n:06}")));
            }
            return Err(unreadable());
        }
        if compact.is_empty() || !compact.chars().all(|c| SERIAL_SYMBOLS.contains(c)) {
            return Err(unreadable());
        }
        match compact.len() {
            11 => Serial::parse(&compact).map(Query::Serial).map_err(|_| {
                ValidationError::new(
                    "q",
                    "Ce numéro de chèque est mal recopié : son dernier caractère ne correspond pas aux autres. Relisez-le, ou tapez seulement ses 4 derniers caractères.",
                )
            }),
            4..=10 => Ok(Query::SerialEnd(compact)),
            _ => Err(unreadable()),
        }
    }
}

/// A redemption of a ticket, with its site's name.
#[derive(Debug, Clone, QueryableByName)]
pub struct RedemptionLine {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub ticket_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub site_id: Uuid,
    #[diesel(sql_type = Text)]
    pub site_name: String,
    /// `redeemed`, `reversed` or `settled` (redeemed in a settled period).
    #[diesel(sql_type = Text)]
    pub status: RedemptionStatus,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub scanned_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub redeemed_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub reversed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub amount_payable: Decimal,
}

/// A ticket with its redemptions, and whether the query named it.
#[derive(Debug, Clone)]
pub struct TicketHistory {
    /// Its status reads `settled` once a settlement covers its redemption.
    pub ticket: Ticket,
    pub matched: bool,
    pub redemptions: Vec<RedemptionLine>,
}

/// An audit entry, with the e-mail of the user who made the change.
#[derive(Debug, Clone)]
pub struct AuditLine {
    pub entry: audit::Entry,
    pub actor_email: Option<String>,
}

/// A checkbook found, with everything that happened to it.
#[derive(Debug, Clone)]
pub struct CheckbookHistory {
    pub checkbook: Checkbook,
    pub program_name: String,
    pub prescriber_name: String,
    pub tickets: Vec<TicketHistory>,
    /// Its mails (the checkbook sent, its expiry reminders), oldest first.
    pub mails: Vec<OutboxMail>,
    /// The changes recorded on it, its tickets and their redemptions, in order.
    pub audit: Vec<AuditLine>,
}

/// The answer: the checkbooks found (most recent first) and whether there were more.
#[derive(Debug, Clone)]
pub struct Found {
    pub query: Query,
    pub checkbooks: Vec<CheckbookHistory>,
    pub more: bool,
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = SqlUuid)]
    checkbook_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    ticket_id: Option<Uuid>,
}

/// Finds what `query` names, with its history (operator only: the caller checks).
pub async fn lookup(conn: &mut AsyncPgConnection, query: Query) -> Result<Found, DbError> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| find(conn, query).await)
        .await
}

async fn find(conn: &mut AsyncPgConnection, query: Query) -> Result<Found, DbError> {
    let limit = i64::try_from(MAX_CHECKBOOKS).unwrap_or(20) + 1;
    let hits: Vec<Hit> = match &query {
        Query::CheckbookNumber(number) => diesel::sql_query(
            "SELECT id AS checkbook_id, NULL::uuid AS ticket_id FROM checkbooks WHERE number = $1",
        )
        .bind::<Text, _>(number)
        .load(conn)
        .await?,
        Query::Serial(serial) => {
            diesel::sql_query("SELECT checkbook_id, id AS ticket_id FROM tickets WHERE serial = $1")
                .bind::<Text, _>(serial.as_str())
                .load(conn)
                .await?
        }
        // The last four symbols are indexed (migration 000023); a longer end narrows.
        Query::SerialEnd(end) => {
            let last4 = &end[end.len() - 4..];
            diesel::sql_query(
                "SELECT t.checkbook_id, t.id AS ticket_id FROM tickets t
                 JOIN checkbooks c ON c.id = t.checkbook_id
                 WHERE right(t.serial, 4) = $1 AND t.serial LIKE '%' || $2
                 ORDER BY c.issued_at DESC, t.position
                 LIMIT $3",
            )
            .bind::<Text, _>(last4)
            .bind::<Text, _>(end)
            .bind::<BigInt, _>(limit)
            .load(conn)
            .await?
        }
    };
    let matched: HashSet<Uuid> = hits.iter().filter_map(|h| h.ticket_id).collect();
    let mut ids: Vec<Uuid> = Vec::new();
    for hit in &hits {
        if !ids.contains(&hit.checkbook_id) {
            ids.push(hit.checkbook_id);
        }
    }
    let more = ids.len() > MAX_CHECKBOOKS;
    ids.truncate(MAX_CHECKBOOKS);

    let books: Vec<(Checkbook, String, String)> = checkbook_rows::table
        .inner_join(programs::table)
        .inner_join(organizations::table)
        .filter(checkbook_rows::id.eq_any(&ids))
        .select((Checkbook::as_select(), programs::name, organizations::name))
        .order(checkbook_rows::issued_at.desc())
        .load(conn)
        .await?;
    let tickets = checkbooks::tickets_of(conn, &ids).await?;
    let ticket_ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    let redemptions: Vec<RedemptionLine> = diesel::sql_query(
        "SELECT r.id, r.ticket_id, r.site_id, o.name AS site_name,
                CASE WHEN r.status = 'redeemed' AND EXISTS (
                         SELECT 1 FROM settlements s
                         WHERE r.redeemed_at >= s.starts_at AND r.redeemed_at < s.ends_at)
                     THEN 'settled' ELSE r.status END AS status,
                r.scanned_at, r.redeemed_at, r.reversed_at, r.amount_payable
         FROM redemptions r JOIN organizations o ON o.id = r.site_id
         WHERE r.ticket_id = ANY($1)
         ORDER BY r.redeemed_at",
    )
    .bind::<Array<SqlUuid>, _>(&ticket_ids)
    .load(conn)
    .await?;
    let mails: Vec<OutboxMail> = outbox::table
        .filter(outbox::related_id.eq_any(&ids))
        .select(OutboxMail::as_select())
        .order(outbox::created_at.asc())
        .load(conn)
        .await?;
    let mut entities: Vec<Uuid> = ids.clone();
    entities.extend(&ticket_ids);
    entities.extend(redemptions.iter().map(|r| r.id));
    let entries: Vec<(audit::Entry, Option<String>)> = audit_entries::table
        .left_join(users::table)
        .filter(audit_entries::entity_id.eq_any(&entities))
        .select((audit::Entry::as_select(), users::email.nullable()))
        .order(audit_entries::seq.asc())
        .load(conn)
        .await?;

    Ok(Found {
        query,
        checkbooks: assemble(books, tickets, redemptions, mails, entries, &matched),
        more,
    })
}

/// Puts each ticket, redemption, mail and audit entry under its checkbook.
fn assemble(
    books: Vec<(Checkbook, String, String)>,
    tickets: Vec<Ticket>,
    redemptions: Vec<RedemptionLine>,
    mails: Vec<OutboxMail>,
    entries: Vec<(audit::Entry, Option<String>)>,
    matched: &HashSet<Uuid>,
) -> Vec<CheckbookHistory> {
    let mut by_ticket: HashMap<Uuid, Vec<RedemptionLine>> = HashMap::new();
    let mut book_of: HashMap<Uuid, Uuid> = HashMap::new();
    for t in &tickets {
        book_of.insert(t.id, t.checkbook_id);
    }
    for r in redemptions {
        book_of.insert(r.id, book_of.get(&r.ticket_id).copied().unwrap_or_default());
        by_ticket.entry(r.ticket_id).or_default().push(r);
    }
    let mut out: Vec<CheckbookHistory> = books
        .into_iter()
        .map(|(checkbook, program_name, prescriber_name)| {
            book_of.insert(checkbook.id, checkbook.id);
            CheckbookHistory {
                checkbook,
                program_name,
                prescriber_name,
                tickets: Vec::new(),
                mails: Vec::new(),
                audit: Vec::new(),
            }
        })
        .collect();
    let index: HashMap<Uuid, usize> = out
        .iter()
        .enumerate()
        .map(|(i, b)| (b.checkbook.id, i))
        .collect();
    for ticket in tickets {
        if let Some(&i) = index.get(&ticket.checkbook_id) {
            out[i].tickets.push(TicketHistory {
                matched: matched.contains(&ticket.id),
                redemptions: by_ticket.remove(&ticket.id).unwrap_or_default(),
                ticket,
            });
        }
    }
    for mail in mails {
        if let Some(&i) = mail.related_id.and_then(|id| index.get(&id)) {
            out[i].mails.push(mail);
        }
    }
    for (entry, actor_email) in entries {
        let book = book_of.get(&entry.entity_id).copied();
        if let Some(&i) = book.and_then(|b| index.get(&b)) {
            out[i].audit.push(AuditLine { entry, actor_email });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn a_query_reads_numbers_serials_and_serial_ends() {
        let serial = crate::codes::Serial::random();
        let display = serial.display();
        let cases: Vec<(String, Result<Query, ()>)> = vec![
            (
                "CH-2026-000042".into(),
                Ok(Query::CheckbookNumber("CH-2026-000042".into())),
            ),
            (
                " ch 2026 42 ".into(),
                Ok(Query::CheckbookNumber("CH-2026-000042".into())),
            ),
            (
                "CH2026000042".into(),
                Ok(Query::CheckbookNumber("CH-2026-000042".into())),
            ),
            (display.clone(), Ok(Query::Serial(serial.clone()))),
            (display.replace('-', ""), Ok(Query::Serial(serial.clone()))),
            (display.to_lowercase(), Ok(Query::Serial(serial.clone()))),
            ("2zat".into(), Ok(Query::SerialEnd("2ZAT".into()))),
            ("9QX2-ZAT".into(), Ok(Query::SerialEnd("9QX2ZAT".into()))),
            ("".into(), Err(())),
            ("   ".into(), Err(())),
            ("ZAT".into(), Err(())),
            ("CH-".into(), Err(())),
            ("CH-2026".into(), Err(())),
            ("CH-2026-ABC".into(), Err(())),
            ("O0I1".into(), Err(())),
            ("' OR 1=1 --".into(), Err(())),
            ("%%%%".into(), Err(())),
            ("ZZZZZZZZZZZZ".into(), Err(())),
            ("é".repeat(50), Err(())),
            ("ÀÉÎÔ".into(), Err(())),
        ];
        for (raw, expected) in cases {
            let got = Query::parse(&raw).map_err(|e| assert_eq!(e.field, "q"));
            assert_eq!(got, expected, "{raw:?}");
        }
    }

    #[test]
    fn a_mistyped_serial_is_told_apart() {
        let serial = crate::codes::Serial::random();
        let mut text: Vec<char> = serial.as_str().chars().collect();
        text[0] = if text[0] == '2' { '3' } else { '2' };
        let wrong: String = text.into_iter().collect();
        let err = Query::parse(&wrong).expect_err("a changed symbol is caught");
        assert!(err.message.contains("mal recopié"), "{}", err.message);
    }
}
