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
    serial_hint_of(serial).to_string()
}

/// [`serial_hint`] as a slice of the serial (no allocation: statements write a
/// million of them).
pub fn serial_hint_of(serial: &str) -> &str {
    let start = serial.char_indices().rev().nth(3).map_or(0, |(at, _)| at);
    &serial[start..]
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
mod tests;
