//! The mails' words: French templates checked in under `templates/mail/` (a subject,
//! a plain text and an HTML body for each kind), embedded in the binary and rendered
//! with minijinja. HTML templates escape every value (auto-escape by extension), so a
//! name typed by a user never becomes markup.
//!
//! Pure: no I/O. Callers gather the plain data ([`CheckbookMail`]…) and get a
//! [`Rendered`] mail back.

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

/// A mail's subject and bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A labelled site, as the mails list them.
#[derive(Debug, Clone, Serialize)]
pub struct SiteLine {
    pub name: String,
    pub address: Option<String>,
    pub postcode: String,
    pub city: String,
    /// Already formatted: `2,4 km`.
    pub distance: Option<String>,
}

/// The checkbook sent to its beneficiary (the PDF goes as an attachment).
#[derive(Debug, Clone, Serialize)]
pub struct CheckbookMail {
    pub number: String,
    pub program: String,
    pub tickets: usize,
    /// `100,00 €`
    pub total: String,
    /// `31/12/2027`
    pub valid_until: String,
    pub prescriber: Option<String>,
    pub sites: Vec<SiteLine>,
    /// The information notice on the person's data, as printed on the checkbook.
    pub notice: String,
}

/// An invitation to choose a password.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationMail {
    pub email: String,
    pub organization: String,
    /// `administrateur` or `agent`.
    pub role: String,
    pub link: String,
    /// `26/11/2026 à 14:05` (Paris time).
    pub expires: String,
}

/// A link to choose a new password, asked for on the login page.
#[derive(Debug, Clone, Serialize)]
pub struct PasswordResetMail {
    pub email: String,
    pub link: String,
    /// `26/11/2026 à 14:05` (Paris time).
    pub expires: String,
}

/// A statement is ready for its organisation.
#[derive(Debug, Clone, Serialize)]
pub struct StatementReadyMail {
    pub organization: String,
    pub number: String,
    /// In words: `facture`, `avoir`…
    pub kind: String,
    pub period_start: String,
    pub period_end: String,
    pub total: String,
    pub lines: i32,
}

/// Unused tickets of a checkbook expire soon.
#[derive(Debug, Clone, Serialize)]
pub struct ExpiryReminderMail {
    pub number: String,
    pub program: String,
    pub unused: i64,
    pub value: String,
    pub valid_until: String,
    pub sites: Vec<SiteLine>,
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../templates/mail/layout.html"),
    ),
    ("sites.txt", include_str!("../../templates/mail/sites.txt")),
    (
        "sites.html",
        include_str!("../../templates/mail/sites.html"),
    ),
    (
        "checkbook.subject.txt",
        include_str!("../../templates/mail/checkbook.subject.txt"),
    ),
    (
        "checkbook.txt",
        include_str!("../../templates/mail/checkbook.txt"),
    ),
    (
        "checkbook.html",
        include_str!("../../templates/mail/checkbook.html"),
    ),
    (
        "invitation.subject.txt",
        include_str!("../../templates/mail/invitation.subject.txt"),
    ),
    (
        "invitation.txt",
        include_str!("../../templates/mail/invitation.txt"),
    ),
    (
        "invitation.html",
        include_str!("../../templates/mail/invitation.html"),
    ),
    (
        "password_reset.subject.txt",
        include_str!("../../templates/mail/password_reset.subject.txt"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/mail/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/mail/password_reset.html"),
    ),
    (
        "statement_ready.subject.txt",
        include_str!("../../templates/mail/statement_ready.subject.txt"),
    ),
    (
        "statement_ready.txt",
        include_str!("../../templates/mail/statement_ready.txt"),
    ),
    (
        "statement_ready.html",
        include_str!("../../templates/mail/statement_ready.html"),
    ),
    (
        "expiry_reminder.subject.txt",
        include_str!("../../templates/mail/expiry_reminder.subject.txt"),
    ),
    (
        "expiry_reminder.txt",
        include_str!("../../templates/mail/expiry_reminder.txt"),
    ),
    (
        "expiry_reminder.html",
        include_str!("../../templates/mail/expiry_reminder.html"),
    ),
];

fn environment() -> Result<&'static Environment<'static>, TemplateError> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("{name}: {e:#}"))?;
        }
        Ok(env)
    })
    .as_ref()
    .map_err(|e| TemplateError(e.clone()))
}

/// A template that does not render: a bug of ours, never bad input.
#[derive(Debug, thiserror::Error)]
#[error("mail template: {0}")]
pub struct TemplateError(String);

fn render(kind: &str, data: &impl Serialize) -> Result<Rendered, TemplateError> {
    let env = environment()?;
    let one = |suffix: &str| -> Result<String, TemplateError> {
        let name = format!("{kind}.{suffix}");
        env.get_template(&name)
            .and_then(|t| t.render(data))
            .map_err(|e| TemplateError(format!("{name}: {e:#}")))
    };
    Ok(Rendered {
        subject: one("subject.txt")?.trim().replace(['\r', '\n'], " "),
        text: one("txt")?,
        html: one("html")?,
    })
}

pub fn checkbook(data: &CheckbookMail) -> Result<Rendered, TemplateError> {
    render("checkbook", data)
}

pub fn invitation(data: &InvitationMail) -> Result<Rendered, TemplateError> {
    render("invitation", data)
}

pub fn password_reset(data: &PasswordResetMail) -> Result<Rendered, TemplateError> {
    render("password_reset", data)
}

pub fn statement_ready(data: &StatementReadyMail) -> Result<Rendered, TemplateError> {
    render("statement_ready", data)
}

pub fn expiry_reminder(data: &ExpiryReminderMail) -> Result<Rendered, TemplateError> {
    render("expiry_reminder", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites() -> Vec<SiteLine> {
        vec![
            SiteLine {
                name: "Médiathèque <b>Vesoul</b>".into(),
                address: Some("1 rue de la Paix".into()),
                postcode: "70000".into(),
                city: "Vesoul".into(),
                distance: Some("2,4 km".into()),
            },
            SiteLine {
                name: "Espace numérique".into(),
                address: None,
                postcode: "70200".into(),
                city: "Lure".into(),
                distance: None,
            },
        ]
    }

    #[test]
    fn every_kind_renders_subject_text_and_html() {
        let checkbook = super::checkbook(&CheckbookMail {
            number: "CH-2026-000042".into(),
            program: "Pass Numérique Haute-Saône".into(),
            tickets: 10,
            total: "100,00 €".into(),
            valid_until: "31/12/2027".into(),
            prescriber: Some("CCAS de Vesoul".into()),
            sites: sites(),
            notice: "Vos données personnelles : effacées 12 mois après.".into(),
        })
        .unwrap();
        assert_eq!(
            checkbook.subject,
            "Votre chéquier Pass Numérique CH-2026-000042"
        );
        assert!(checkbook.text.contains("valables jusqu’au 31/12/2027"));
        assert!(
            checkbook.text.contains(
                "- Médiathèque <b>Vesoul</b>, 1 rue de la Paix, 70000 Vesoul (à 2,4 km)\n"
            ),
            "{}",
            checkbook.text
        );
        assert!(checkbook.text.contains("- Espace numérique, 70200 Lure\n"));
        // User data is escaped in HTML, never markup.
        assert!(
            checkbook
                .html
                .contains("Médiathèque &lt;b&gt;Vesoul&lt;&#x2f;b&gt;")
                || checkbook
                    .html
                    .contains("Médiathèque &lt;b&gt;Vesoul&lt;/b&gt;"),
            "{}",
            checkbook.html
        );
        assert!(!checkbook.html.contains("<b>Vesoul"));
        assert!(checkbook.html.starts_with("<!DOCTYPE html>"));

        let invitation = super::invitation(&InvitationMail {
            email: "agent@example.org".into(),
            organization: "CCAS \"Vesoul\" & co".into(),
            role: "agent".into(),
            link: "http://127.0.0.1:8080/invitation?token=abc".into(),
            expires: "26/11/2026 à 14:05".into(),
        })
        .unwrap();
        assert!(invitation.subject.contains("CCAS \"Vesoul\" & co"));
        assert!(
            invitation
                .text
                .contains("\nhttp://127.0.0.1:8080/invitation?token=abc\n")
        );
        assert!(invitation.html.contains("&amp; co"), "{}", invitation.html);

        let reset = super::password_reset(&PasswordResetMail {
            email: "agent@example.org".into(),
            link: "http://127.0.0.1:8080/mot-de-passe?token=abc&x=<b>".into(),
            expires: "26/11/2026 à 14:05".into(),
        })
        .unwrap();
        assert_eq!(
            reset.subject,
            "Choisir un nouveau mot de passe Pass Numérique"
        );
        assert!(
            reset
                .text
                .contains("\nhttp://127.0.0.1:8080/mot-de-passe?token=abc&x=<b>\n"),
            "{}",
            reset.text
        );
        assert!(!reset.html.contains("<b>"), "{}", reset.html);

        let statement = super::statement_ready(&StatementReadyMail {
            organization: "Département".into(),
            number: "REL-2026-1".into(),
            kind: "facture".into(),
            period_start: "01/10/2026".into(),
            period_end: "31/10/2026".into(),
            total: "60,00 €".into(),
            lines: 10,
        })
        .unwrap();
        assert_eq!(
            statement.subject,
            "Relevé REL-2026-1 disponible (01/10/2026 – 31/10/2026)"
        );
        assert!(statement.text.contains("60,00 €"));

        let reminder = super::expiry_reminder(&ExpiryReminderMail {
            number: "CH-2026-000042".into(),
            program: "Pass".into(),
            unused: 7,
            value: "70,00 €".into(),
            valid_until: "31/12/2026".into(),
            sites: Vec::new(),
        })
        .unwrap();
        assert_eq!(
            reminder.subject,
            "Vos chèques Pass Numérique expirent le 31/12/2026"
        );
        assert!(reminder.text.contains("7 chèque(s)"));
        assert!(!reminder.text.contains("Où les utiliser"));
    }
}
