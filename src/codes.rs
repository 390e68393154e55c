//! Ticket serials and signed ticket codes. Pure code: no HTTP, no SQL, no I/O.
//!
//! **Serial** (printed on the coupon, typed by hand when the camera fails):
//! 10 random body symbols and 1 check symbol from a 31-symbol alphabet,
//! `23456789ABCDEFGHJKMNPQRSTUVWXYZ` (no `0 O 1 I L`), about 49.5 random bits.
//! With `v_i` the value of the symbol at position `i` (0-based, check symbol
//! last), a serial is valid when `Σ (i+1)·v_i ≡ 0 (mod 31)`. 31 is prime and the
//! 11 weights are distinct and non-zero, so any single substitution (a change of
//! `(i+1)·d`, `d ≠ 0`) and any swap of two adjacent different symbols (a change
//! of `b − a ≠ 0`) is caught. The canonical form (stored in the database) is the
//! 11 symbols; the printed form is grouped `7K3M-9QX2-ZAT`; parsing accepts
//! lowercase, spaces and dashes.
//!
//! **Signed code** (the QR payload), only QR alphanumeric characters, so the QR
//! uses alphanumeric mode: 36 + (key id length) = 37 to 40 characters, a QR of
//! version 2 (key id of 1-2 characters, 25×25 modules) or 3 (29×29) at level M:
//!
//! ```text
//! PN1 <key id, 1-4 of A-Z0-9> - <serial, 11> <value in cents, 5> <MAC, 16>
//! PN1K1-7K3M9QX2ZATAAA7IBWIMT45RXGVWYYLQ     (key K1, serial 7K3M-9QX2-ZAT, 1000 cents)
//! ```
//!
//! `PN1` is the format version. The value (0 to 10 000 000 cents) and the MAC are
//! in RFC 4648 base32 (`A-Z2-7`, big-endian, fixed width: 25 and 80 bits, so every
//! value has exactly one spelling). The MAC is HMAC-SHA256, keyed with the secret
//! of the key id, over every character of the code before it (version, key id,
//! serial, value), truncated to its first 80 bits and compared in constant time.
//! The code is exact: no lowercase, no surrounding spaces (trim before calling).
//!
//! **Key rotation**: [`CodeKeys`] holds several `(id, secret)` pairs; the first
//! signs, all of them verify. A code whose key id is no longer listed is refused
//! ([`CodeError::UnknownKey`]), which revokes every code that key signed.

use std::collections::HashSet;
use std::fmt;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The 31 serial symbols, in value order.
const SERIAL_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Size of the serial alphabet, a prime.
const SERIAL_BASE: u32 = 31;
/// Random symbols in a serial, before the check symbol.
const SERIAL_BODY_LEN: usize = 10;
/// Symbols in a canonical serial.
const SERIAL_LEN: usize = SERIAL_BODY_LEN + 1;
/// Inverse of the check symbol's weight (11) modulo 31: 11 × 17 = 187 = 6 × 31 + 1.
const CHECK_WEIGHT_INVERSE: u32 = 17;

/// RFC 4648 base32 alphabet, used for the value and the MAC of a code.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Format version prefix of a signed code.
const CODE_PREFIX: &str = "PN1";
/// Separator between the key id and the serial.
const KEY_ID_SEPARATOR: u8 = b'-';
/// Base32 characters of the value field (25 bits).
const VALUE_CHARS: usize = 5;
/// Base32 characters of the MAC field (80 bits).
const MAC_CHARS: usize = 16;
/// Bytes of the truncated MAC (80 bits).
const MAC_BYTES: usize = 10;
/// Length of everything after the separator: serial, value, MAC.
const CODE_TAIL_LEN: usize = SERIAL_LEN + VALUE_CHARS + MAC_CHARS;
/// Longest key id.
const MAX_KEY_ID_LEN: usize = 4;
/// Longest valid code (40 characters).
const MAX_CODE_LEN: usize = CODE_PREFIX.len() + MAX_KEY_ID_LEN + 1 + CODE_TAIL_LEN;

/// Highest ticket value a code carries, in cents (100 000 €).
pub const MAX_VALUE_CENTS: i64 = 10_000_000;
/// Written into the value field when `sign` is given a value out of range: it
/// decodes above [`MAX_VALUE_CENTS`], so `verify` refuses the code.
const OUT_OF_RANGE_VALUE: u128 = (1 << (5 * VALUE_CHARS)) - 1;

/// Why a serial or a code was refused, or why keys were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Wrong length, wrong prefix, a character outside the format, a value out of range.
    #[error("malformed serial or ticket code")]
    Malformed,
    /// The serial is well formed but its check character does not match (a typo).
    #[error("the serial's check character does not match (typing mistake?)")]
    BadCheckCharacter,
    /// The code names a key that is not (or no longer) in the key list.
    #[error("ticket code signed by an unknown or revoked key")]
    UnknownKey,
    /// The MAC does not match: forged or altered code.
    #[error("ticket code signature does not match")]
    BadSignature,
    /// The key list given to [`CodeKeys::new`] is unusable.
    #[error("invalid ticket signing keys: {0}")]
    InvalidKeys(String),
}

/// A ticket serial in canonical form: 11 symbols of the serial alphabet, the last
/// one a valid check symbol. A value of this type is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Serial(String);

/// Value (0..31) of a serial symbol, for an uppercase ASCII byte.
fn serial_symbol_value(byte: u8) -> Option<u32> {
    SERIAL_ALPHABET
        .iter()
        .position(|&s| s == byte)
        .map(|v| v as u32)
}

/// Symbol of a serial value (0..31).
fn serial_symbol(value: u32) -> char {
    char::from(SERIAL_ALPHABET[(value % SERIAL_BASE) as usize])
}

/// `Σ (i+1)·v_i mod 31` over the given symbol values.
fn weighted_sum(values: &[u32]) -> u32 {
    values
        .iter()
        .enumerate()
        .fold(0, |acc, (i, v)| (acc + (i as u32 + 1) * v) % SERIAL_BASE)
}

/// The check value that makes the weighted sum of body + check zero modulo 31.
fn check_value(body: &[u32]) -> u32 {
    let sum = weighted_sum(body);
    (SERIAL_BASE - sum) % SERIAL_BASE * CHECK_WEIGHT_INVERSE % SERIAL_BASE
}

impl Serial {
    /// A new serial: 10 symbols from the operating system's random source, plus
    /// the check symbol.
    pub fn random() -> Serial {
        let mut rng = rand::rngs::OsRng;
        let body: Vec<u32> = (0..SERIAL_BODY_LEN)
            .map(|_| rng.gen_range(0..SERIAL_BASE))
            .collect();
        Serial::from_body(&body)
    }

    /// Builds the canonical serial of 10 body values (each below 31).
    fn from_body(body: &[u32]) -> Serial {
        let mut text: String = body.iter().map(|&v| serial_symbol(v)).collect();
        text.push(serial_symbol(check_value(body)));
        Serial(text)
    }

    /// Parses a serial typed by a person or read from the database: lowercase,
    /// spaces and dashes are accepted; the check symbol must match.
    pub fn parse(raw: &str) -> Result<Serial, CodeError> {
        let mut values = Vec::with_capacity(SERIAL_LEN);
        for c in raw.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            if values.len() == SERIAL_LEN || !c.is_ascii() {
                return Err(CodeError::Malformed);
            }
            let value =
                serial_symbol_value(c.to_ascii_uppercase() as u8).ok_or(CodeError::Malformed)?;
            values.push(value);
        }
        if values.len() != SERIAL_LEN {
            return Err(CodeError::Malformed);
        }
        if weighted_sum(&values) != 0 {
            return Err(CodeError::BadCheckCharacter);
        }
        Ok(Serial::from_body(&values[..SERIAL_BODY_LEN]))
    }

    /// Canonical form: 11 symbols, no separators (what the database stores).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Form for print and screens, in groups of 4: `7K3M-9QX2-ZAT`.
    pub fn display(&self) -> String {
        let mut out = String::with_capacity(SERIAL_LEN + 2);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }

    /// The last four symbols (`2ZAT` of `7K3M-9QX2-ZAT`): what everyone but the
    /// issuing prescriber sees of a ticket, enough to tell tickets apart, not to use one.
    pub fn hint(&self) -> String {
        serial_hint(&self.0)
    }
}

/// The last four characters of a serial: what everyone but the issuing prescriber
/// sees of a ticket.
pub fn serial_hint(serial: &str) -> String {
    let skip = serial.chars().count().saturating_sub(4);
    serial.chars().skip(skip).collect()
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// What a verified code says: which ticket, worth how much, signed by which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaim {
    pub serial: Serial,
    pub value_cents: i64,
    pub key_id: String,
}

/// One signing key: its id and the HMAC keyed with its secret.
#[derive(Clone)]
struct CodeKey {
    id: String,
    mac: HmacSha256,
}

/// The ticket signing keys, newest (signing) first; every key verifies.
/// `Debug` prints the key ids only, never the secrets.
#[derive(Clone)]
pub struct CodeKeys {
    keys: Vec<CodeKey>,
}

impl fmt::Debug for CodeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeKeys")
            .field(
                "key_ids",
                &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// Whether a key id (already uppercase) is 1 to 4 characters of A-Z0-9.
fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Fixed-width big-endian base32 of `value` in `chars` characters.
fn base32_encode(value: u128, chars: usize, out: &mut String) {
    for i in (0..chars).rev() {
        let digit = (value >> (5 * i)) & 31;
        out.push(char::from(BASE32_ALPHABET[digit as usize]));
    }
}

/// Decodes fixed-width big-endian base32 (at most 25 characters); `None` on any
/// character outside `A-Z2-7`.
fn base32_decode(text: &[u8]) -> Option<u128> {
    if text.len() > 25 {
        return None;
    }
    text.iter().try_fold(0u128, |acc, &b| {
        let digit = BASE32_ALPHABET.iter().position(|&s| s == b)?;
        Some(acc << 5 | digit as u128)
    })
}

/// The fields of a code whose layout is right, before any key is used.
struct CodeParts<'a> {
    key_id: &'a str,
    /// Everything before the MAC: what the MAC covers.
    signed: &'a [u8],
    serial: &'a [u8],
    value: u128,
    tag: [u8; MAC_BYTES],
}

/// Checks the layout of a code (length, prefix, alphabets) and splits it.
fn split_code(code: &str) -> Result<CodeParts<'_>, CodeError> {
    let bytes = code.as_bytes();
    if bytes.len() > MAX_CODE_LEN {
        return Err(CodeError::Malformed);
    }
    let rest = bytes
        .strip_prefix(CODE_PREFIX.as_bytes())
        .ok_or(CodeError::Malformed)?;
    let separator = rest
        .iter()
        .position(|&b| b == KEY_ID_SEPARATOR)
        .ok_or(CodeError::Malformed)?;
    let (key_id, tail) = rest.split_at(separator);
    let tail = &tail[1..];
    // The key id is ASCII once it passes this check, so it is valid UTF-8.
    let key_id = std::str::from_utf8(key_id).map_err(|_| CodeError::Malformed)?;
    if !is_valid_key_id(key_id) || tail.len() != CODE_TAIL_LEN {
        return Err(CodeError::Malformed);
    }
    let (serial, tail) = tail.split_at(SERIAL_LEN);
    let (value, mac) = tail.split_at(VALUE_CHARS);
    if !serial.iter().all(|&b| serial_symbol_value(b).is_some()) {
        return Err(CodeError::Malformed);
    }
    let value = base32_decode(value).ok_or(CodeError::Malformed)?;
    let tag_number = base32_decode(mac).ok_or(CodeError::Malformed)?;
    let tag_bytes = tag_number.to_be_bytes();
    let mut tag = [0u8; MAC_BYTES];
    tag.copy_from_slice(&tag_bytes[tag_bytes.len() - MAC_BYTES..]);
    Ok(CodeParts {
        key_id,
        signed: &bytes[..bytes.len() - MAC_CHARS],
        serial,
        value,
        tag,
    })
}

impl CodeKeys {
    /// Keys as `(id, secret)`, newest (signing) first. Ids are uppercased and must
    /// be 1 to 4 characters of A-Z0-9, without duplicates; secrets must not be
    /// empty (their UTF-8 bytes key the HMAC); the list must not be empty.
    pub fn new(keys: Vec<(String, String)>) -> Result<CodeKeys, CodeError> {
        if keys.is_empty() {
            return Err(CodeError::InvalidKeys("no key given".into()));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(keys.len());
        for (id, secret) in keys {
            let id = id.to_ascii_uppercase();
            if !is_valid_key_id(&id) {
                return Err(CodeError::InvalidKeys(format!(
                    "key id {id:?} must be 1 to 4 characters A-Z0-9"
                )));
            }
            if !seen.insert(id.clone()) {
                return Err(CodeError::InvalidKeys(format!("duplicate key id {id}")));
            }
            if secret.is_empty() {
                return Err(CodeError::InvalidKeys(format!(
                    "key {id} has an empty secret"
                )));
            }
            let mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
                .map_err(|_| CodeError::InvalidKeys(format!("key {id}: unusable secret")))?;
            out.push(CodeKey { id, mac });
        }
        Ok(CodeKeys { keys: out })
    }

    /// The signed code of a ticket, with the newest key.
    ///
    /// Callers pass a value in `0..=MAX_VALUE_CENTS` (the ticket's value, in
    /// cents). Any other value panics in debug builds and, in release builds,
    /// gives a code that [`CodeKeys::verify`] refuses as malformed.
    pub fn sign(&self, serial: &Serial, value_cents: i64) -> String {
        debug_assert!(
            (0..=MAX_VALUE_CENTS).contains(&value_cents),
            "ticket value out of range: {value_cents}"
        );
        let value = u128::try_from(value_cents)
            .ok()
            .filter(|&v| v <= MAX_VALUE_CENTS as u128)
            .unwrap_or(OUT_OF_RANGE_VALUE);
        // `new` refuses an empty list, so there is always a first key.
        let Some(key) = self.keys.first() else {
            return String::new();
        };
        let mut code = String::with_capacity(MAX_CODE_LEN);
        code.push_str(CODE_PREFIX);
        code.push_str(&key.id);
        code.push(char::from(KEY_ID_SEPARATOR));
        code.push_str(serial.as_str());
        base32_encode(value, VALUE_CHARS, &mut code);
        let mut mac = key.mac.clone();
        mac.update(code.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag[16 - MAC_BYTES..].copy_from_slice(&digest[..MAC_BYTES]);
        base32_encode(u128::from_be_bytes(tag), MAC_CHARS, &mut code);
        code
    }

    /// Checks a scanned code and returns what it claims. Never panics; the serial
    /// and value are returned only once the signature checks out.
    pub fn verify(&self, code: &str) -> Result<TicketClaim, CodeError> {
        let parts = split_code(code)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == parts.key_id)
            .ok_or(CodeError::UnknownKey)?;
        let mut mac = key.mac.clone();
        mac.update(parts.signed);
        mac.verify_truncated_left(&parts.tag)
            .map_err(|_| CodeError::BadSignature)?;
        // Signed by us: what follows only fails if the signer was given bad input.
        let value_cents = i64::try_from(parts.value)
            .ok()
            .filter(|v| (0..=MAX_VALUE_CENTS).contains(v))
            .ok_or(CodeError::Malformed)?;
        let serial = std::str::from_utf8(parts.serial)
            .map_err(|_| CodeError::Malformed)
            .and_then(Serial::parse)?;
        Ok(TicketClaim {
            serial,
            value_cents,
            key_id: key.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use qrcode::{EcLevel, QrCode, Version};

    /// Characters of the QR alphanumeric mode.
    const QR_ALPHANUMERIC: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

    fn keys(list: &[(&str, &str)]) -> CodeKeys {
        CodeKeys::new(
            list.iter()
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
                .collect(),
        )
        .unwrap()
    }

    fn key_a() -> CodeKeys {
        keys(&[("A", "secret of key A, long enough")])
    }

    /// Fixed serials (edge values) plus random ones.
    fn sample_serials() -> Vec<Serial> {
        let mut out = vec![
            Serial::from_body(&[0; SERIAL_BODY_LEN]),
            Serial::from_body(&[30; SERIAL_BODY_LEN]),
            Serial::from_body(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Serial::from_body(&[30, 0, 30, 0, 30, 0, 30, 0, 30, 0]),
        ];
        out.extend((0..300).map(|_| Serial::random()));
        out
    }

    #[test]
    fn serial_alphabet_is_31_distinct_unambiguous_symbols() {
        assert_eq!(SERIAL_ALPHABET.len(), 31);
        assert!((2..31).all(|d| 31 % d != 0), "31 is prime");
        let distinct: HashSet<_> = SERIAL_ALPHABET.iter().collect();
        assert_eq!(distinct.len(), 31);
        for confusable in b"0O1IL" {
            assert!(!SERIAL_ALPHABET.contains(confusable));
        }
        assert_eq!((11 * CHECK_WEIGHT_INVERSE) % SERIAL_BASE, 1);
        assert!(
            SERIAL_ALPHABET
                .iter()
                .all(|b| QR_ALPHANUMERIC.contains(char::from(*b)))
        );
    }

    #[test]
    fn serial_random_is_canonical_and_parses_back() {
        for _ in 0..1000 {
            let serial = Serial::random();
            assert_eq!(serial.as_str().len(), SERIAL_LEN);
            assert_eq!(Serial::parse(serial.as_str()), Ok(serial.clone()));
            assert_eq!(Serial::parse(&serial.display()), Ok(serial.clone()));
        }
    }

    #[test]
    fn serial_random_is_not_constant() {
        let serials: HashSet<_> = (0..100).map(|_| Serial::random()).collect();
        assert_eq!(serials.len(), 100);
    }

    #[test]
    fn serial_display_groups_by_four() {
        let serial = Serial::from_body(&[5, 17, 1, 18, 7, 21, 28, 0, 30, 8]);
        assert_eq!(serial.as_str(), "7K3M9QX2ZAT");
        assert_eq!(serial.display(), "7K3M-9QX2-ZAT");
        assert_eq!(serial.to_string(), "7K3M-9QX2-ZAT");
        assert_eq!(serial.hint(), "2ZAT");
    }

    #[test]
    fn serial_parse_tolerates_case_spaces_and_dashes() {
        let serial = Serial::from_body(&[5, 17, 1, 18, 7, 21, 28, 0, 30, 8]);
        for raw in [
            "7K3M9QX2ZAT",
            "7k3m9qx2zat",
            "7K3M-9QX2-ZAT",
            " 7k3m 9qx2 zat ",
            "7-K-3-M-9-Q-X-2-Z-A-T",
            "7K3M\t9QX2\nZAT",
        ] {
            assert_eq!(Serial::parse(raw), Ok(serial.clone()), "input {raw:?}");
        }
    }

    #[test]
    fn serial_parse_rejects_bad_input() {
        let cases = [
            ("", CodeError::Malformed),
            ("----", CodeError::Malformed),
            ("7K3M9QX2ZA", CodeError::Malformed),   // too short
            ("7K3M9QX2ZAT5", CodeError::Malformed), // too long
            ("7K3M9QX2ZOT", CodeError::Malformed),  // O is not a symbol
            ("7K3M9QX2Z0T", CodeError::Malformed),  // 0 is not a symbol
            ("7K3M9QX2Z1T", CodeError::Malformed),  // 1 is not a symbol
            ("7K3M9QX2ZIT", CodeError::Malformed),  // I is not a symbol
            ("7K3M9QX2ZLT", CodeError::Malformed),  // L is not a symbol
            ("7K3M9QX2ZÀT", CodeError::Malformed),  // non-ASCII
            ("7K3M9QX2ZA_T", CodeError::Malformed), // other separators
            ("7K3M9QX2ZAU", CodeError::BadCheckCharacter),
            ("K73M9QX2ZAT", CodeError::BadCheckCharacter),
        ];
        for (raw, expected) in cases {
            assert_eq!(Serial::parse(raw), Err(expected), "input {raw:?}");
        }
    }

    #[test]
    fn serial_check_catches_every_single_substitution() {
        let mut checked = 0;
        for serial in sample_serials() {
            let original = serial.as_str().as_bytes().to_vec();
            for position in 0..SERIAL_LEN {
                for &symbol in SERIAL_ALPHABET {
                    if symbol == original[position] {
                        continue;
                    }
                    let mut typo = original.clone();
                    typo[position] = symbol;
                    let typo = String::from_utf8(typo).unwrap();
                    assert_eq!(
                        Serial::parse(&typo),
                        Err(CodeError::BadCheckCharacter),
                        "{typo} (from {serial:?}) was accepted"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, sample_serials().len() * SERIAL_LEN * 30);
    }

    #[test]
    fn serial_check_catches_every_adjacent_transposition() {
        let mut checked = 0;
        for serial in sample_serials() {
            let original = serial.as_str().as_bytes().to_vec();
            for position in 0..SERIAL_LEN - 1 {
                if original[position] == original[position + 1] {
                    continue;
                }
                let mut swapped = original.clone();
                swapped.swap(position, position + 1);
                let swapped = String::from_utf8(swapped).unwrap();
                assert_eq!(
                    Serial::parse(&swapped),
                    Err(CodeError::BadCheckCharacter),
                    "{swapped} (from {serial:?}) was accepted"
                );
                checked += 1;
            }
        }
        assert!(checked > 1000);
    }

    /// Every pair of different symbols, swapped at every adjacent position, in
    /// every context: the change of the weighted sum is `a − b`, independent of
    /// the other symbols, so this covers all serials.
    #[test]
    fn serial_check_catches_every_transposition_of_every_symbol_pair() {
        for a in 0..SERIAL_BASE {
            for b in 0..SERIAL_BASE {
                if a == b {
                    continue;
                }
                for position in 0..SERIAL_LEN - 1 {
                    let mut values = vec![0; SERIAL_LEN];
                    values[position] = a;
                    values[position + 1] = b;
                    let before = weighted_sum(&values);
                    values.swap(position, position + 1);
                    assert_ne!(weighted_sum(&values), before, "{a} {b} at {position}");
                }
            }
        }
    }

    #[test]
    fn code_layout_and_length() {
        let serial = Serial::parse("7K3M-9QX2-ZAT").unwrap();
        let code = keys(&[("k1", "example secret")]).sign(&serial, 1000);
        // Known answer (HMAC-SHA256 computed independently): pins the format.
        assert_eq!(code, "PN1K1-7K3M9QX2ZATAAA7IBWIMT45RXGVWYYLQ");
        assert_eq!(code.len(), 38);
        let code1 = keys(&[("A", "example secret")]).sign(&serial, 0);
        assert_eq!(code1.len(), 37);
        let code4 = keys(&[("ABCD", "example secret")]).sign(&serial, MAX_VALUE_CENTS);
        assert_eq!(code4.len(), MAX_CODE_LEN);
        assert_eq!(MAX_CODE_LEN, 40);
        for c in code.chars().chain(code1.chars()).chain(code4.chars()) {
            assert!(QR_ALPHANUMERIC.contains(c), "{c:?} is not QR alphanumeric");
        }
    }

    #[test]
    fn code_fits_a_version_3_qr_at_level_m() {
        let serial = Serial::random();
        for (id, value) in [("A", 0), ("K1", 1000), ("ABCD", MAX_VALUE_CENTS)] {
            let code = keys(&[(id, "some secret")]).sign(&serial, value);
            let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M).unwrap();
            match qr.version() {
                Version::Normal(n) => assert!(n <= 3, "{code}: version {n}"),
                other => panic!("{code}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn code_round_trip_returns_the_claim() {
        let keys = key_a();
        let serial = Serial::random();
        let code = keys.sign(&serial, 1000);
        assert_eq!(
            keys.verify(&code),
            Ok(TicketClaim {
                serial,
                value_cents: 1000,
                key_id: "A".into()
            })
        );
    }

    #[test]
    fn code_rejects_every_single_character_change() {
        let keys = key_a();
        let code = keys.sign(&Serial::random(), 1000);
        let replacements: Vec<char> = QR_ALPHANUMERIC
            .chars()
            .chain('a'..='z')
            .chain(['\0', 'é', '\u{FFFD}'])
            .collect();
        for position in 0..code.len() {
            for &c in &replacements {
                if code.as_bytes()[position] == c as u8 && c.is_ascii() {
                    continue;
                }
                let mut changed: Vec<char> = code.chars().collect();
                changed[position] = c;
                let changed: String = changed.into_iter().collect();
                assert!(keys.verify(&changed).is_err(), "{changed} was accepted");
            }
        }
    }

    #[test]
    fn code_verify_rejects_bad_codes_with_the_right_error() {
        let keys = key_a();
        let serial = Serial::random();
        let code = keys.sign(&serial, 1000);
        let lower = code.to_lowercase();
        let other_key = CodeKeys::new(vec![("A".into(), "another secret".into())])
            .unwrap()
            .sign(&serial, 1000);
        let revoked = CodeKeys::new(vec![("B".into(), "secret B".into())])
            .unwrap()
            .sign(&serial, 1000);
        let cases: Vec<(String, CodeError)> = vec![
            (String::new(), CodeError::Malformed),
            ("PN1".into(), CodeError::Malformed),
            (code.replacen("PN1", "PN2", 1), CodeError::Malformed),
            (lower, CodeError::Malformed),
            (format!(" {code}"), CodeError::Malformed),
            (format!("{code}\n"), CodeError::Malformed),
            (code.replacen('-', "", 1), CodeError::Malformed),
            (code.replacen("PN1A-", "PN1-", 1), CodeError::Malformed),
            (code.replacen("PN1A-", "PN1ABCDE-", 1), CodeError::Malformed),
            (code.replacen("PN1A-", "PN1É-", 1), CodeError::Malformed),
            (other_key, CodeError::BadSignature),
            (revoked, CodeError::UnknownKey),
        ];
        for (input, expected) in cases {
            assert_eq!(keys.verify(&input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn out_of_range_value_gives_a_code_that_verify_refuses() {
        let keys = key_a();
        let serial = Serial::random();
        // What a release build produces for a value out of range.
        let mut code = format!("PN1A-{}", serial.as_str());
        base32_encode(OUT_OF_RANGE_VALUE, VALUE_CHARS, &mut code);
        let mut mac = keys.keys[0].mac.clone();
        mac.update(code.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag[6..].copy_from_slice(&digest[..MAC_BYTES]);
        base32_encode(u128::from_be_bytes(tag), MAC_CHARS, &mut code);
        assert_eq!(keys.verify(&code), Err(CodeError::Malformed));
    }

    #[test]
    fn code_keys_new_validates_the_list() {
        let cases: Vec<(Vec<(&str, &str)>, bool)> = vec![
            (vec![], false),
            (vec![("A", "s")], true),
            (vec![("k2", "s"), ("k1", "t")], true),
            (vec![("ABCD", "s")], true),
            (vec![("ABCDE", "s")], false),
            (vec![("", "s")], false),
            (vec![("A-1", "s")], false),
            (vec![("É", "s")], false),
            (vec![("A", "")], false),
            (vec![("k1", "s"), ("K1", "t")], false),
        ];
        for (list, ok) in cases {
            let owned = list
                .iter()
                .map(|(i, s)| (i.to_string(), s.to_string()))
                .collect();
            let result = CodeKeys::new(owned);
            assert_eq!(result.is_ok(), ok, "{list:?}: {result:?}");
            if let Err(e) = result {
                assert!(matches!(e, CodeError::InvalidKeys(_)), "{e:?}");
            }
        }
    }

    #[test]
    fn code_keys_ids_are_uppercased() {
        let keys = keys(&[("k1", "secret")]);
        let code = keys.sign(&Serial::random(), 1000);
        assert!(code.starts_with("PN1K1-"));
        assert_eq!(keys.verify(&code).unwrap().key_id, "K1");
    }

    #[test]
    fn code_keys_debug_hides_secrets() {
        let keys = keys(&[("K2", "topsecret-two"), ("K1", "topsecret-one")]);
        let printed = format!("{keys:?} {keys:#?}");
        assert!(
            printed.contains("K2") && printed.contains("K1"),
            "{printed}"
        );
        assert!(!printed.contains("topsecret"), "{printed}");
    }

    fn arb_serial() -> impl Strategy<Value = Serial> {
        proptest::collection::vec(0..SERIAL_BASE, SERIAL_BODY_LEN)
            .prop_map(|body| Serial::from_body(&body))
    }

    fn arb_value() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(0),
            Just(1000),
            Just(MAX_VALUE_CENTS),
            0..=MAX_VALUE_CENTS
        ]
    }

    proptest! {
        #[test]
        fn prop_sign_verify_round_trips(
            serial in arb_serial(),
            value in arb_value(),
            id in "[A-Za-z0-9]{1,4}",
            secret in ".{1,64}",
        ) {
            let keys = CodeKeys::new(vec![(id.clone(), secret)]).unwrap();
            let code = keys.sign(&serial, value);
            prop_assert!(code.len() <= MAX_CODE_LEN);
            prop_assert!(code.chars().all(|c| QR_ALPHANUMERIC.contains(c)));
            let claim = keys.verify(&code).unwrap();
            prop_assert_eq!(claim.serial, serial);
            prop_assert_eq!(claim.value_cents, value);
            prop_assert_eq!(claim.key_id, id.to_ascii_uppercase());
        }

        #[test]
        fn prop_single_character_change_is_rejected(
            serial in arb_serial(),
            value in arb_value(),
            position in 0..MAX_CODE_LEN,
            replacement in any::<char>(),
        ) {
            let keys = key_a();
            let code = keys.sign(&serial, value);
            let mut chars: Vec<char> = code.chars().collect();
            let position = position % chars.len();
            prop_assume!(chars[position] != replacement);
            chars[position] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(keys.verify(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn prop_truncation_is_rejected(
            serial in arb_serial(),
            value in arb_value(),
            cut in 0..MAX_CODE_LEN,
        ) {
            let keys = key_a();
            let code = keys.sign(&serial, value);
            let cut = cut % code.len();
            prop_assert!(keys.verify(&code[..cut]).is_err());
            prop_assert!(keys.verify(&code[code.len() - cut..]).is_err());
        }

        #[test]
        fn prop_extension_is_rejected(
            serial in arb_serial(),
            value in arb_value(),
            extra in ".{1,20}",
            before in any::<bool>(),
        ) {
            let keys = key_a();
            let code = keys.sign(&serial, value);
            let extended = if before { format!("{extra}{code}") } else { format!("{code}{extra}") };
            prop_assert!(keys.verify(&extended).is_err());
        }

        #[test]
        fn prop_arbitrary_strings_never_panic(raw in ".*", bytes in any::<Vec<u8>>()) {
            let keys = key_a();
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            for input in [raw.as_str(), lossy.as_str()] {
                let _ = keys.verify(input);
                let _ = Serial::parse(input);
            }
        }

        #[test]
        fn prop_code_shaped_strings_never_verify(
            id in "[A-Z0-9]{1,4}",
            tail in "[A-Z2-9]{32}",
        ) {
            // Well-formed layout, forged MAC: refused (with overwhelming probability
            // BadSignature or, for a bad serial/value field, Malformed).
            let keys = CodeKeys::new(vec![(id.clone(), "secret".into())]).unwrap();
            let result = keys.verify(&format!("PN1{id}-{tail}"));
            prop_assert!(result.is_err());
        }

        #[test]
        fn prop_rotation_and_revocation(
            serial in arb_serial(),
            value in arb_value(),
            secret_a in ".{1,32}",
            secret_b in ".{1,32}",
        ) {
            let a = CodeKeys::new(vec![("A".into(), secret_a.clone())]).unwrap();
            let code = a.sign(&serial, value);
            let rotated = CodeKeys::new(vec![
                ("B".into(), secret_b.clone()),
                ("A".into(), secret_a),
            ]).unwrap();
            let claim = rotated.verify(&code).unwrap();
            prop_assert_eq!(&claim.key_id, "A");
            prop_assert_eq!(claim.value_cents, value);
            prop_assert_eq!(&claim.serial, &serial);
            // The newest key signs after the rotation.
            let new_code = rotated.sign(&serial, value);
            prop_assert!(new_code.starts_with("PN1B-"));
            let revoked = CodeKeys::new(vec![("B".into(), secret_b)]).unwrap();
            prop_assert_eq!(revoked.verify(&code), Err(CodeError::UnknownKey));
            prop_assert!(revoked.verify(&new_code).is_ok());
        }
    }
}
