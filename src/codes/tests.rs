//! Unit and property tests of the ticket codes.

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

#[test]
fn a_serial_hint_is_its_last_four_characters() {
    assert_eq!(serial_hint_of("7K3M9QX2ZAT"), "2ZAT");
    assert_eq!(serial_hint("7K3M9QX2ZAT"), "2ZAT");
    assert_eq!(serial_hint_of("ABC"), "ABC");
    assert_eq!(serial_hint_of(""), "");
    assert_eq!(serial_hint_of("éàüöx"), "àüöx");
}
