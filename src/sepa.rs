//! The SEPA credit-transfer file a bank takes in one upload: ISO 20022
//! `pain.001.001.03` (the version every French bank accepts), one payment
//! information block (the operator's account, debited once per transfer) and one
//! transfer per site payout statement, its number as the end-to-end id and the
//! remittance information. Pure: the use case (`crate::payouts::batch`) gathers the
//! statements; here they become XML.
//!
//! Text is restricted to the SEPA character set (letters and digits of basic Latin,
//! space and `/ - ? : ( ) . , ' +`): accents are transliterated (`é` → `e`, `œ` →
//! `oe`), anything else becomes a space, and lengths are cut to the schema's.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::bank::Bic;
use crate::domain::Iban;
use crate::operator_identity::OperatorIdentity;

/// One transfer to a site.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditTransfer {
    /// The statement's number (`REL-2026-000042`): end-to-end id and remittance.
    pub statement_number: String,
    pub amount: Decimal,
    pub creditor_name: String,
    pub iban: Iban,
    /// Optional inside the SEPA zone (IBAN only): written when known.
    pub bic: Option<Bic>,
}

/// The file's header values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// At most 35 characters, unique per file sent to the bank.
    pub message_id: String,
    pub created_at: DateTime<Utc>,
    /// When the bank is asked to make the transfers.
    pub execution_date: NaiveDate,
}

/// The sum of the transfers, as the file's control sum.
pub fn control_sum(transfers: &[CreditTransfer]) -> Decimal {
    transfers.iter().map(|t| t.amount).sum()
}

/// The text of the `pain.001.001.03` file. There must be at least one transfer (the
/// schema wants one): the caller refuses an empty batch before.
pub fn credit_transfer_file(
    debtor: &OperatorIdentity,
    header: &FileHeader,
    transfers: &[CreditTransfer],
) -> String {
    let count = transfers.len();
    let sum = amount(control_sum(transfers));
    let created = header
        .created_at
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m-%dT%H:%M:%S");
    let debtor_name = sepa_text(&debtor.name, 70);
    let message_id = sepa_text(&header.message_id, 35);
    let mut xml = String::with_capacity(1024 + 600 * count);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
    xml.push_str("  <CstmrCdtTrfInitn>\n");
    let _ = write!(
        xml,
        "    <GrpHdr>\n      <MsgId>{message_id}</MsgId>\n      <CreDtTm>{created}</CreDtTm>\n      <NbOfTxs>{count}</NbOfTxs>\n      <CtrlSum>{sum}</CtrlSum>\n      <InitgPty>\n        <Nm>{debtor_name}</Nm>\n      </InitgPty>\n    </GrpHdr>\n"
    );
    let _ = write!(
        xml,
        "    <PmtInf>\n      <PmtInfId>{message_id}</PmtInfId>\n      <PmtMtd>TRF</PmtMtd>\n      <BtchBookg>false</BtchBookg>\n      <NbOfTxs>{count}</NbOfTxs>\n      <CtrlSum>{sum}</CtrlSum>\n      <PmtTpInf>\n        <SvcLvl>\n          <Cd>SEPA</Cd>\n        </SvcLvl>\n      </PmtTpInf>\n      <ReqdExctnDt>{}</ReqdExctnDt>\n",
        header.execution_date.format("%Y-%m-%d")
    );
    let _ = write!(
        xml,
        "      <Dbtr>\n        <Nm>{debtor_name}</Nm>\n        <PstlAdr>\n          <Ctry>{}</Ctry>\n          <AdrLine>{}</AdrLine>\n          <AdrLine>{}</AdrLine>\n        </PstlAdr>\n      </Dbtr>\n      <DbtrAcct>\n        <Id>\n          <IBAN>{}</IBAN>\n        </Id>\n        <Ccy>EUR</Ccy>\n      </DbtrAcct>\n      <DbtrAgt>\n        <FinInstnId>\n          <BIC>{}</BIC>\n        </FinInstnId>\n      </DbtrAgt>\n      <ChrgBr>SLEV</ChrgBr>\n",
        debtor.country,
        sepa_text(&debtor.address, 70),
        sepa_text(&format!("{} {}", debtor.postcode, debtor.city), 70),
        debtor.iban.as_str(),
        debtor.bic.as_str(),
    );
    for t in transfers {
        let reference = sepa_text(&t.statement_number, 35);
        let _ = write!(
            xml,
            "      <CdtTrfTxInf>\n        <PmtId>\n          <InstrId>{reference}</InstrId>\n          <EndToEndId>{reference}</EndToEndId>\n        </PmtId>\n        <Amt>\n          <InstdAmt Ccy=\"EUR\">{}</InstdAmt>\n        </Amt>\n",
            amount(t.amount)
        );
        if let Some(bic) = &t.bic {
            let _ = write!(
                xml,
                "        <CdtrAgt>\n          <FinInstnId>\n            <BIC>{}</BIC>\n          </FinInstnId>\n        </CdtrAgt>\n",
                bic.as_str()
            );
        }
        let _ = write!(
            xml,
            "        <Cdtr>\n          <Nm>{}</Nm>\n        </Cdtr>\n        <CdtrAcct>\n          <Id>\n            <IBAN>{}</IBAN>\n          </Id>\n        </CdtrAcct>\n        <RmtInf>\n          <Ustrd>{}</Ustrd>\n        </RmtInf>\n      </CdtTrfTxInf>\n",
            sepa_text(&t.creditor_name, 70),
            t.iban.as_str(),
            sepa_text(
                &format!("Pass Numerique releve {}", t.statement_number),
                140
            ),
        );
    }
    xml.push_str("    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n");
    xml
}

/// An amount as the schema writes it: a point, two decimals.
fn amount(value: Decimal) -> String {
    format!("{:.2}", value.round_dp(2))
}

/// `text` in the SEPA character set, at most `max` characters: accents
/// transliterated, other characters as spaces, runs of spaces as one, trimmed.
pub fn sepa_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'a'..='z'
            | 'A'..='Z'
            | '0'..='9'
            | '/'
            | '-'
            | '?'
            | ':'
            | '('
            | ')'
            | '.'
            | ','
            | '\''
            | '+' => out.push(c),
            '’' | '‘' | '`' => out.push('\''),
            '–' | '—' | '_' => out.push('-'),
            '&' => out.push('+'),
            _ => match transliterate(c) {
                Some(latin) => out.push_str(latin),
                None => out.push(' '),
            },
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => "a",
        'À' | 'Â' | 'Ä' | 'Á' | 'Ã' | 'Å' => "A",
        'ç' => "c",
        'Ç' => "C",
        'é' | 'è' | 'ê' | 'ë' => "e",
        'É' | 'È' | 'Ê' | 'Ë' => "E",
        'î' | 'ï' | 'í' | 'ì' => "i",
        'Î' | 'Ï' | 'Í' | 'Ì' => "I",
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' | 'ø' => "o",
        'Ô' | 'Ö' | 'Ó' | 'Ò' | 'Õ' | 'Ø' => "O",
        'ù' | 'û' | 'ü' | 'ú' => "u",
        'Ù' | 'Û' | 'Ü' | 'Ú' => "U",
        'ÿ' | 'ý' => "y",
        'Ÿ' | 'Ý' => "Y",
        'ñ' => "n",
        'Ñ' => "N",
        'œ' => "oe",
        'Œ' => "OE",
        'æ' => "ae",
        'Æ' => "AE",
        'ß' => "ss",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_kept_to_the_sepa_character_set() {
        for (raw, expected) in [
            ("Médiathèque de Lure", "Mediatheque de Lure"),
            // The SEPA set has no ’: the straight apostrophe, written as an escape.
            ("L’Œuvre & Cie « Ça va »", "L\u{27}OEuvre + Cie Ca va"),
            ("Espace   numérique\n(Vesoul)", "Espace numerique (Vesoul)"),
            ("Ärger — 50 %", "Arger - 50"),
            ("", ""),
        ] {
            assert_eq!(sepa_text(raw, 70), expected, "{raw:?}");
        }
        assert_eq!(sepa_text("abcdef", 3), "abc");
        assert_eq!(sepa_text("ab cdef", 3), "ab");
    }

    #[test]
    fn the_file_names_the_debtor_each_transfer_and_their_sum() {
        let debtor = OperatorIdentity::demonstration();
        let transfers = vec![
            CreditTransfer {
                statement_number: "REL-2026-000001".into(),
                amount: Decimal::new(2880, 2),
                creditor_name: "Médiathèque de Lure".into(),
                iban: Iban::parse("iban", "FR7630006000011234567890189").unwrap(),
                bic: Some(Bic::parse("bic", "AGRIFRPP").unwrap()),
            },
            CreditTransfer {
                statement_number: "REL-2026-000002".into(),
                amount: Decimal::new(96, 1),
                creditor_name: "Espace numérique".into(),
                iban: Iban::parse("iban", "DE89370400440532013000").unwrap(),
                bic: None,
            },
        ];
        assert_eq!(control_sum(&transfers), Decimal::new(3840, 2));
        let header = FileHeader {
            message_id: "PN0123".into(),
            created_at: DateTime::parse_from_rfc3339("2026-11-29T11:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            execution_date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        };
        let xml = credit_transfer_file(&debtor, &header, &transfers);
        for expected in [
            "<NbOfTxs>2</NbOfTxs>",
            "<CtrlSum>38.40</CtrlSum>",
            "<CreDtTm>2026-11-29T12:00:00</CreDtTm>",
            "<InstdAmt Ccy=\"EUR\">9.60</InstdAmt>",
            "<EndToEndId>REL-2026-000001</EndToEndId>",
            "<Nm>Mediatheque de Lure</Nm>",
            "<IBAN>FR7630003017200005031874272</IBAN>",
            "<BIC>SOGEFRPP</BIC>",
            "<Ustrd>Pass Numerique releve REL-2026-000002</Ustrd>",
        ] {
            assert!(xml.contains(expected), "{expected} in {xml}");
        }
        assert_eq!(xml.matches("<CdtTrfTxInf>").count(), 2);
        assert_eq!(xml.matches("<CdtrAgt>").count(), 1);
        assert!(xml.is_ascii());
    }
}
