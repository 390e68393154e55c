//! The statuses of tickets, checkbooks and redemptions, and the kinds of
//! statements: one Rust enum each, spelled
//! as the database stores them (TEXT with a CHECK constraint, see the migrations)
//! and as the API shows them (the same snake_case strings). Queries bind and read
//! them directly (`Text` in and out); a string the enum does not know is a
//! deserialisation error, never a silent default. The test below compares each set of
//! strings with the CHECK constraint of its column, so that a status added on one
//! side only fails.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a status enum: its variants and their strings, `as_str`, `parse`,
/// `ALL`, and the mapping to and from a `Text` column.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        // The variants' snake_case names are their strings (the test checks it):
        // `rename_all` rather than a `rename` per variant, which utoipa does not read
        // through the macro.
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in the order of the CHECK constraint.
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

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(
                bytes: diesel::pg::PgValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                let raw = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::pg::Pg,
                >>::from_sql(bytes)?;
                $name::parse(&raw).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " {:?}"), raw).into()
                })
            }
        }
    };
}

status_enum! {
    /// Where a ticket stands (`tickets.status`). A ticket of a checkbook still in
    /// stock is `issued` here; what the API shows is [`ShownTicketStatus`].
    TicketStatus {
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
    CheckbookStatus {
        /// Printed in advance, not yet handed out to a beneficiary.
        Stock = "stock",
        HandedOut = "handed_out",
        Cancelled = "cancelled",
    }
}

status_enum! {
    /// Where a redemption stands (`redemptions.status`).
    RedemptionStatus {
        Redeemed = "redeemed",
        /// Undone during the grace period: it counts for nothing.
        Reversed = "reversed",
        Settled = "settled",
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
    StatementKind {
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
    use std::collections::BTreeSet;

    use super::*;

    /// The strings of `CHECK (status IN (...))` on `table`, read from the migrations.
    fn check_strings(table: &str, column: &str) -> BTreeSet<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut found = None;
        let mut dirs: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        for path in dirs {
            let Ok(sql) = std::fs::read_to_string(path.join("up.sql")) else {
                continue;
            };
            let Some(start) = sql.find(&format!("CREATE TABLE {table} (")) else {
                continue;
            };
            let body = &sql[start..];
            let body = &body[..body.find("\n);").unwrap()];
            let needle = format!("CHECK ({column} IN (");
            let at = body.find(&needle).unwrap() + needle.len();
            let list = &body[at..at + body[at..].find(')').unwrap()];
            found = Some(
                list.split(',')
                    .map(|s| s.trim().trim_matches('\'').to_string())
                    .collect(),
            );
        }
        assert!(
            !sql_mentions_alter(table, column),
            "a migration alters {table}.{column}: read it here too"
        );
        found.unwrap_or_else(|| panic!("no CHECK on {table}.{column}"))
    }

    /// Whether a migration changes the column's constraint after its table was made
    /// (then `check_strings` would need to read it).
    fn sql_mentions_alter(table: &str, column: &str) -> bool {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        std::fs::read_dir(dir).unwrap().any(|e| {
            let sql = std::fs::read_to_string(e.unwrap().path().join("up.sql")).unwrap_or_default();
            sql.lines().any(|line| {
                line.contains(&format!("ALTER TABLE {table}"))
                    && line.contains(&format!("CHECK ({column}"))
            })
        })
    }

    fn strings<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> BTreeSet<String> {
        all.iter().map(|v| as_str(*v).to_string()).collect()
    }

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
        for s in ShownTicketStatus::ALL {
            assert_eq!(ShownTicketStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TicketStatus::parse("stock"), None);
        assert_eq!(TicketStatus::parse("Issued"), None);
    }

    #[test]
    fn the_enums_and_the_check_constraints_allow_the_same_strings() {
        assert_eq!(
            strings(TicketStatus::ALL, TicketStatus::as_str),
            check_strings("tickets", "status")
        );
        assert_eq!(
            strings(CheckbookStatus::ALL, CheckbookStatus::as_str),
            check_strings("checkbooks", "status")
        );
        assert_eq!(
            strings(RedemptionStatus::ALL, RedemptionStatus::as_str),
            check_strings("redemptions", "status")
        );
        assert_eq!(
            strings(StatementKind::ALL, StatementKind::as_str),
            check_strings("statements", "kind")
        );
        // What the API shows of a ticket: the stored statuses and `stock`.
        let mut shown = check_strings("tickets", "status");
        shown.insert("stock".to_string());
        assert_eq!(
            strings(ShownTicketStatus::ALL, ShownTicketStatus::as_str),
            shown
        );
    }
}
