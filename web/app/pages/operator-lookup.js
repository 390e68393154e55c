// « Rechercher » (operator, support): a checkbook or a ticket found by what a caller
// reads out — the checkbook's number, the ticket's number or its last 4 characters —
// with its history, read-only: each ticket's state and scans, the hand-out, the
// cancellation, the mails (with « Renvoyer ») and the journal of changes.

import { h, title, clear, field, form, money, day, dateTime, table, section, pill, email, showFormError } from '../dom.js';
import { get } from '../api.js';
import { SCAN_STATUS, TICKET_CANCELLED, CHECKBOOK_CANCELLED } from '../terms.js';
import { MAIL_KIND, mailState, mailWhy, resendButton } from './operator-mail.js';

const BOOK_STATUS = {
  stock: ['En stock (pas encore remis)', 'info'],
  handed_out: ['Remis au bénéficiaire', 'ok'],
  cancelled: [CHECKBOOK_CANCELLED, 'bad'],
};
const TICKET_STATUS = {
  stock: ['En stock', 'info'],
  issued: ['Utilisable', 'ok'],
  redeemed: ['Utilisé', 'info'],
  settled: ['Utilisé (remboursé au lieu)', 'info'],
  cancelled: [TICKET_CANCELLED, 'bad'],
  expired: ['Expiré', 'warn'],
};
const KIND_READ = {
  checkbook_number: 'numéro de chéquier',
  serial: 'numéro de chèque',
  serial_end: 'fin de numéro de chèque',
};

/** One line per scan: « Encaissé par X le … », « Scan annulé le … ». */
function scans(ticket) {
  if (!ticket.redemptions.length) return 'Aucun';
  return h('ul.scans', ticket.redemptions.map((r) => h('li',
    pill(SCAN_STATUS[r.status] || r.status, r.status === 'reversed' ? 'warn' : 'ok'),
    ` ${r.site.name}, le ${dateTime(r.redeemed_at)}`,
    r.reversed_at ? ` — annulé le ${dateTime(r.reversed_at)}` : '')));
}

/** « email : modifié », « budget : 1 000,00 € → 1 200,00 € ». */
function changes(entry) {
  const before = entry.before || {};
  const after = entry.after || {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (!keys.length) return '';
  const shown = (v) => (v === undefined || v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return h('ul.changes', keys.map((k) => h('li', `${k} : ${shown(before[k])} → ${shown(after[k])}`)));
}

function checkbookCard(book, again) {
  const [bookText, bookTone] = BOOK_STATUS[book.status] || [book.status, 'info'];
  return h('section.card.lookup-book',
    h('h2', `Chéquier ${book.number} `, pill(bookText, bookTone)),
    h('dl.facts',
      h('dt', 'Dispositif'), h('dd', h('a', { href: `/operateur/dispositifs/${book.program.id}` }, book.program.name)),
      h('dt', 'Prescripteur'), h('dd', h('a', { href: `/operateur/organisations/${book.prescriber.id}` }, book.prescriber.name)),
      h('dt', 'Émis le'), h('dd', dateTime(book.issued_at)),
      h('dt', 'Remis le'), h('dd', book.handed_out_at ? dateTime(book.handed_out_at) : 'Pas encore remis'),
      h('dt', 'Valable jusqu’au'), h('dd', day(book.valid_until))),
    book.cancelled_at
      ? h('p.alert.warn', `${CHECKBOOK_CANCELLED} le ${dateTime(book.cancelled_at)}${book.cancel_reason ? ` — motif : « ${book.cancel_reason} »` : ''}. Ses chèques non utilisés ne valent plus rien.`)
      : null,
    h('h3', 'Chèques'),
    table([
      { label: 'Chèque', cell: (t) => [`…${t.serial_hint}`, t.matched ? [' ', pill('recherché', 'warn')] : ''] },
      { label: 'Valeur', cell: (t) => money(t.value), class: 'num' },
      { label: 'État', cell: (t) => pill(...(TICKET_STATUS[t.status] || [t.status, 'info'])) },
      { label: 'Encaissements', cell: scans },
    ], book.tickets, { caption: `Chèques du chéquier ${book.number}` }),
    h('h3', 'Courriels'),
    table([
      { label: 'Créé le', cell: (m) => dateTime(m.created_at) },
      { label: 'Nature', cell: (m) => MAIL_KIND[m.kind] || m.kind },
      { label: 'Destinataire', cell: (m) => email(m.recipient) },
      { label: 'État', cell: mailState },
      { label: 'Pourquoi', cell: mailWhy },
      { label: 'Action', cell: (m) => resendButton(m, again) },
    ], book.mails, { caption: `Courriels du chéquier ${book.number}`, empty: 'Aucun courriel pour ce chéquier.' }),
    h('h3', 'Journal des modifications'),
    book.audit.length
      ? h('ol.journal', book.audit.map((e) => h('li',
        h('strong', dateTime(e.at)), ` — ${e.action}${e.actor ? `, par ${e.actor}` : ''}`,
        e.reason ? ` — motif : « ${e.reason} »` : '',
        changes(e))))
      : h('p.empty', 'Aucune modification enregistrée.'));
}

export async function lookupPage(main, { query }) {
  const results = h('div', { 'aria-live': 'polite' });
  const search = async (q) => {
    const answer = await get(`/lookup?q=${encodeURIComponent(q)}`);
    history.replaceState(null, '', `/operateur/recherche?q=${encodeURIComponent(q)}`);
    const again = () => search(q);
    // h() flattens the list and drops what is absent (append() would write "null").
    clear(results).append(h('div',
      answer.checkbooks.length
        ? h('p', `${answer.checkbooks.length} chéquier${answer.checkbooks.length > 1 ? 's' : ''} trouvé${answer.checkbooks.length > 1 ? 's' : ''} par ${KIND_READ[answer.kind]}.`)
        : h('p.alert.info', `Aucun chéquier ni chèque ne correspond à « ${q} ». Vérifiez le numéro avec la personne.`),
      answer.more ? h('p.alert.warn', 'D’autres chéquiers correspondent : tapez plus de caractères du numéro de chèque.') : null,
      answer.checkbooks.map((book) => checkbookCard(book, again))));
  };
  const searchForm = form({
    label: 'Rechercher',
    submit: 'Rechercher',
    action: async (v) => search(String(v.q || '').trim()),
  },
  field({
    label: 'Numéro de chéquier ou de chèque',
    name: 'q',
    required: true,
    value: query.get('q') || '',
    autocomplete: 'off',
    hint: 'Le numéro du chéquier (CH-2026-000042), celui d’un chèque (7K3M-9QX2-ZAT) ou ses 4 derniers caractères (2ZAT), tels que la personne les lit.',
  }));
  main.append(
    title('Rechercher'),
    h('p.hint', 'Pour répondre à un appel : l’historique d’un chéquier ou d’un chèque, en lecture seule.'),
    h('div.card', searchForm),
    results);
  const q = (query.get('q') || '').trim();
  if (q) {
    try {
      await search(q);
    } catch (err) {
      showFormError(searchForm, err);
    }
  }
}
