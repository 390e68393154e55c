// The operator's mails (« Courriels »): what went, what waits, what failed and why in
// plain French (the technical words folded under it), and « Renvoyer » on a failed or
// sent mail. The API's refusals (a single-use link, a checkbook's PDF not kept, a mail
// still on its way) are shown in French next to the button.

import { h, title, clear, dateTime, table, section, pill, toast, email } from '../dom.js';
import { get, post, SessionExpired } from '../api.js';

export const MAIL_KIND = {
  checkbook: 'Chéquier',
  invitation: 'Invitation',
  statement_ready: 'Relevé disponible',
  expiry_reminder: 'Rappel d’expiration',
  password_reset: 'Nouveau mot de passe',
};

const MAIL_STATE = { waiting: ['En attente', 'info'], sending: ['En cours d’envoi', 'info'], sent: ['Envoyé', 'ok'], failed: ['Échec', 'bad'] };

/** A mail's state in words: « Envoyé le … », « Échec », « En attente ». */
export function mailState(m) {
  const [text, tone] = MAIL_STATE[m.status] || [m.status, 'info'];
  const when = m.status === 'sent' && m.sent_at ? ` le ${dateTime(m.sent_at)}` : '';
  return pill(`${text}${when}`, tone);
}

/** Why it failed, in French, with the technical words folded under it. */
export function mailWhy(m) {
  if (!m.last_error) return m.status === 'failed' ? 'Raison inconnue.' : '';
  return h('div.why',
    h('p', m.last_error_explained || 'L’envoi a échoué.'),
    h('details', h('summary', 'Détail technique'), h('code.technical', m.last_error)));
}

/** « Renvoyer »: tries a failed mail again, or sends a sent one again; says why not. */
export function resendButton(m, after) {
  if (m.status !== 'failed' && m.status !== 'sent') return '';
  const box = h('div.resend');
  const button = h('button.secondary', {
    type: 'button',
    'aria-label': `Renvoyer le courriel « ${m.subject} » à ${m.recipient}`,
    onclick: async () => {
      button.disabled = true;
      for (const old of box.querySelectorAll('.alert')) old.remove();
      try {
        const again = await post(`/outbox/${m.id}/resend`);
        toast(again.id === m.id ? 'Le courriel repart dans un instant.' : 'Une copie du courriel part dans un instant.');
        await after();
      } catch (err) {
        if (err instanceof SessionExpired) return;
        box.append(h('p.alert.warn', { role: 'alert' }, err.message));
        button.disabled = false;
      }
    },
  }, 'Renvoyer');
  box.append(button);
  return box;
}

export async function outboxPage(main, { query }) {
  const status = query.get('etat') || 'failed';
  const list = h('div');
  const draw = async () => {
    const page = await get(`/outbox?limit=200${status === 'all' ? '' : `&status=${status}`}`);
    // Newest first: the one just sent again is on top.
    const mails = page.items.slice().reverse();
    clear(list).append(table([
      { label: 'Créé le', cell: (m) => dateTime(m.created_at) },
      { label: 'Nature', cell: (m) => MAIL_KIND[m.kind] || m.kind },
      { label: 'Destinataire', cell: (m) => email(m.recipient) },
      { label: 'Objet', cell: (m) => m.subject },
      { label: 'État', cell: (m) => mailState(m) },
      { label: 'Essais', cell: (m) => String(m.attempts), class: 'num' },
      { label: 'Pourquoi', cell: (m) => mailWhy(m) },
      { label: 'Action', cell: (m) => resendButton(m, draw) },
    ], mails, { caption: 'Courriels', empty: status === 'failed' ? 'Aucun courriel en échec.' : 'Aucun courriel.' }));
  };
  main.append(
    title('Courriels'),
    h('nav.filters', { 'aria-label': 'Filtrer par état' },
      [['failed', 'En échec'], ['waiting', 'En attente'], ['sent', 'Envoyés'], ['all', 'Tous']].map(([k, text]) =>
        h('a', { href: `/operateur/courriels?etat=${k}`, 'aria-current': k === status ? 'page' : undefined }, text))),
    section(status === 'failed' ? 'Courriels abandonnés' : 'Courriels',
      status === 'failed'
        ? h('p.hint', 'Le serveur de messagerie les a refusés, ou ils ont échoué trop de fois. Lisez pourquoi, corrigez ce qui doit l’être (adresse, réglage d’envoi), puis « Renvoyer ».')
        : h('p.hint', '« Renvoyer » un courriel déjà envoyé en envoie une copie.'),
      list),
  );
  await draw();
}
