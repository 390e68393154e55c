//! Why a mail did not leave, in French, for the people who see it (a prescriber on
//! the checkbook's page): the outbox keeps the transport's own words (English, from
//! the SMTP library) for the operator's diagnosis; this turns them into a sentence
//! that says what happened and what to do. Pure: no I/O.

use crate::mail::ADDRESS_WITHDRAWN;

/// A French sentence for a mail's `last_error`.
pub fn in_french(last_error: &str) -> String {
    let error = last_error.to_lowercase();
    let sentence = if last_error == ADDRESS_WITHDRAWN {
        "L’adresse e-mail a été retirée avant l’envoi : le message n’est pas parti."
    } else if error.contains("adresse du destinataire inutilisable")
        || error.contains("invalid address")
    {
        "L’adresse e-mail n’est pas utilisable : corrigez-la, puis renvoyez."
    } else if error.starts_with("permanent error (55") {
        "Le serveur de messagerie du destinataire a refusé le message (adresse inconnue ou boîte pleine) : vérifiez l’adresse, puis renvoyez."
    } else if error.starts_with("permanent error") {
        "Le serveur d’envoi a refusé le message : renvoyez plus tard ou prévenez l’opérateur."
    } else if error.starts_with("transient error") {
        "Le serveur d’envoi a demandé de réessayer plus tard."
    } else if error.contains("connection refused")
        || error.contains("connection error")
        || error.contains("network error")
        || error.contains("timed out")
        || error.contains("tls error")
    {
        "Le serveur d’envoi des e-mails ne répondait pas."
    } else {
        "L’envoi a échoué pour une raison technique."
    };
    sentence.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_read_in_french() {
        let cases = [
            (
                "Connection error: Connection refused (os error 111)",
                "ne répondait pas",
            ),
            ("network error: timed out", "ne répondait pas"),
            (
                "permanent error (550): 5.1.1 user unknown",
                "refusé le message (adresse inconnue",
            ),
            ("permanent error (554): rejected", "refusé le message"),
            ("transient error (421): busy", "réessayer plus tard"),
            (
                "adresse du destinataire inutilisable : invalid",
                "n’est pas utilisable",
            ),
            (ADDRESS_WITHDRAWN, "retirée avant l’envoi"),
            ("something else", "raison technique"),
        ];
        for (error, words) in cases {
            let sentence = in_french(error);
            assert!(sentence.contains(words), "{error}: {sentence}");
            assert!(!sentence.contains('\''), "{error}: straight apostrophe");
        }
    }
}
