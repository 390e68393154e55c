//! The statuses of tickets, checkbooks, redemptions and programs, and the kinds of
//! statements: one Rust enum each, spelled as the database stores them and as the
//! API shows them (the same snake_case strings). In PostgreSQL each is an enum type
//! (migration 000016: `ticket_status`, `checkbook_status`, `redemption_status`,
//! `program_status`, `statement_kind`); its Rust enum binds and reads that type (the
//! `sql_types` of the generated `schema`), so a query that compares a status column
//! with a text, or a literal that is not a label, fails when it is planned. A label
//! the enum does not know is a deserialisation error, never a silent default.
//! `tests/api/statuses.rs` compares each enum with `enum_range` of its type, in order.
//!
//! On the infrastructure floor, beside `schema`: the enums are the database's
//! vocabulary as much as the API's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a status enum: its variants and their strings, `as_str`, `parse`,
/// `ALL`, and, given `as` the SQL type of `schema::sql_types`, the mapping to and
/// from that PostgreSQL enum type (and the reading of a status returned as text,
/// as `ticket_verdict` returns it).
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident $(as $sql:ident)? { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        $(
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(sql_type = crate::schema::sql_types::$sql)]
        )?
        // The variants' snake_case names are their strings (the test checks it):
        // `rename_all` rather than a `rename` per variant, which utoipa does not read
        // through the macro.
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in the order of the enum type's labels.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and shown string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant of a stored string, if it is one.
            pub fn parse(raw: &str) -> Option<$name> {
                match raw {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $(
            // An enum value goes over the wire as its label, in text and binary alike.
            impl diesel::serialize::ToSql<crate::schema::sql_types::$sql, diesel::pg::Pg> for $name {
                fn to_sql<'b>(
                    &'b self,
                    out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
                ) -> diesel::serialize::Result {
                    std::io::Write::write_all(out, self.as_str().as_bytes())?;
                    Ok(diesel::serialize::IsNull::No)
                }
            }

            impl diesel::deserialize::FromSql<crate::schema::sql_types::$sql, diesel::pg::Pg> for $name {
                fn from_sql(
                    bytes: diesel::pg::PgValue<'_>,
                ) -> diesel::deserialize::Result<Self> {
                    $name::from_label(bytes.as_bytes())
                }
            }

            /// A status a function returns as text (`ticket_verdict`): read only;
            /// binding one as text is not possible (there is no `enum = text`).
            impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
                fn from_sql(
                    bytes: diesel::pg::PgValue<'_>,
                ) -> diesel::deserialize::Result<Self> {
                    $name::from_label(bytes.as_bytes())
                }
            }

            impl $name {
                /// The variant of a label read from PostgreSQL.
                fn from_label(bytes: &[u8]) -> diesel::deserialize::Result<Self> {
                    let raw = std::str::from_utf8(bytes)?;
                    $name::parse(raw).ok_or_else(|| {
                        format!(concat!("unknown ", stringify!($name), " {:?}"), raw).into()
                    })
                }
            }
        )?
    };
}

status_enum! {
    /// Where a ticket stands (`tickets.status`). A ticket of a checkbook still in
    /// stock is `issued` here; what the API shows is [`ShownTicketStatus`].
    TicketStatus as TicketStatus {
        Issued = "issued",
        Redeemed = "redeemed",
        /// Its redemption was settled.
        Settled = "settled",
        Cancelled = "cancelled",
        /// Its program was closed before it was used.
        Expired = "expired",
    }
}

status_enum! {
    /// Where a checkbook stands (`checkbooks.status`).
    CheckbookStatus as CheckbookStatus {
        /// Printed in advance, not yet handed out to a beneficiary.
        Stock = "stock",
        HandedOut = "handed_out",
        Cancelled = "cancelled",
    }
}

status_enum! {
    /// Where a redemption stands (`redemptions.status`).
    RedemptionStatus as RedemptionStatus {
        Redeemed = "redeemed",
        /// Undone during the grace period: it counts for nothing.
        Reversed = "reversed",
        Settled = "settled",
    }
}

status_enum! {
    /// Whether a program still issues and redeems (`programs.status`).
    ProgramStatus as ProgramStatus {
        Open = "open",
        /// Closed: its credit notes are made; nothing more is issued nor redeemed.
        Closed = "closed",
    }
}

status_enum! {
    /// A ticket's status as the API shows it: the stored one, or `stock` while its
    /// checkbook waits to be handed out (never stored on a ticket).
    ShownTicketStatus {
        Stock = "stock",
        Issued = "issued",
        Redeemed = "redeemed",
        Settled = "settled",
        Cancelled = "cancelled",
        Expired = "expired",
    }
}

status_enum! {
    /// What a statement is (`statements.kind`); its printed words are in
    /// `documents` (`title`…) and `mail::events`.
    StatementKind as StatementKind {
        /// What a training site is paid: "Relevé de paiement".
        SitePayout = "site_payout",
        /// What a funder is billed: "Facture".
        FunderBill = "funder_bill",
        /// The operator's commission: "Relevé de commission".
        Commission = "commission",
        /// A credit note: "Avoir".
        CreditNote = "credit_note",
    }
}

impl From<TicketStatus> for ShownTicketStatus {
    fn from(status: TicketStatus) -> ShownTicketStatus {
        match status {
            TicketStatus::Issued => ShownTicketStatus::Issued,
            TicketStatus::Redeemed => ShownTicketStatus::Redeemed,
            TicketStatus::Settled => ShownTicketStatus::Settled,
            TicketStatus::Cancelled => ShownTicketStatus::Cancelled,
            TicketStatus::Expired => ShownTicketStatus::Expired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_string_and_json() {
        for s in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            let back: TicketStatus = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!(back, *s);
            assert_eq!(ShownTicketStatus::from(*s).as_str(), s.as_str());
        }
        for s in CheckbookStatus::ALL {
            assert_eq!(CheckbookStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            let back: CheckbookStatus = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!(back, *s);
        }
        for s in RedemptionStatus::ALL {
            assert_eq!(RedemptionStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            let back: RedemptionStatus = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!(back, *s);
        }
        for s in StatementKind::ALL {
            assert_eq!(StatementKind::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            let back: StatementKind = serde_json::from_value(s.as_str().into()).unwrap();
            assert_eq!(back, *s);
        }
        for s in ProgramStatus::ALL {
            assert_eq!(ProgramStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in ShownTicketStatus::ALL {
            assert_eq!(ShownTicketStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TicketStatus::parse("stock"), None);
        assert_eq!(TicketStatus::parse("Issued"), None);
    }
}
