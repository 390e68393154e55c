// Prescriber agents: issue a checkbook for a beneficiary, print it, e-mail it (and
// see whether the mail left), hand out a stock checkbook, correct a beneficiary's
// record, cancel a lost one; find their checkbooks, the ones to call before they
// expire, their print runs to print again; what is left to issue.

import { h, title, clear, field, form, money, day, dateTime, uuid, table, pill, toast, section, email } from '../dom.js';
import { get, post, patch, all, download, openPdf, ApiError, SessionExpired } from '../api.js';
import { ticketName } from '../queue.js';
import { THEMES } from '../terms.js';

const SITUATIONS = [
  ['', '— non renseignée —'],
  ['job_seeker', 'Demandeur d’emploi'],
  ['employed', 'En emploi'],
  ['retired', 'Retraité'],
  ['student', 'Étudiant'],
  ['inactive', 'Sans activité'],
  ['other', 'Autre'],
];

// The vocabularies of src/vocabulary.rs, in plain French.
const PUBLICS = [
  ['rsa', 'Allocataire du RSA'],
  ['jeunes', 'Jeune (moins de 26 ans)'],
  ['demandeur_emploi', 'Demandeur d’emploi'],
  ['senior', 'Senior'],
  ['handicap', 'En situation de handicap'],
  ['sans_diplome', 'Sans diplôme'],
];

const NEEDS = THEMES;

/** A group of checkboxes named `${prefix}:${value}`, ticked from `chosen`. */
function choices(legend, hint, prefix, list, chosen = []) {
  return h('fieldset',
    h('legend', legend, h('span.optional', ' (facultatif)')),
    h('p.hint', hint),
    list.map(([value, label]) => field({ label, name: `${prefix}:${value}`, type: 'checkbox', value: chosen.includes(value) })));
}

/** The values ticked in a group of `choices`. */
function chosen(values, prefix, list) {
  return list.map(([value]) => value).filter((value) => values[`${prefix}:${value}`] === true);
}

const STATUS = {
  stock: ['En stock (pas encore remis)', 'info'],
  handed_out: ['Remis au bénéficiaire', 'ok'],
  cancelled: ['Chéquier annulé', 'bad'],
};

const TICKET_STATUS = {
  stock: 'En stock', issued: 'Utilisable', redeemed: 'Utilisé', settled: 'Utilisé (remboursé)', cancelled: 'Chèque annulé', expired: 'Expiré',
};

function statusPill(status) {
  const [text, tone] = STATUS[status] || [status, 'info'];
  return pill(text, tone);
}

function used(book) {
  return book.tickets.filter((t) => t.status === 'redeemed' || t.status === 'settled').length;
}

function unused(book) {
  return book.tickets.filter((t) => t.status === 'issued').length;
}

/** Where a checkbook's last mail stands, in a sentence. */
function mailState(mail) {
  if (!mail) return null;
  const to = mail.recipient;
  switch (mail.status) {
    case 'sent': return { tone: 'ok', text: `Envoyé le ${dateTime(mail.sent_at)} à ${to}.` };
    case 'failed': return { tone: 'bad', text: `Échec de l’envoi à ${to} : ${mail.failure || 'raison inconnue.'}` };
    case 'sending': return { tone: 'info', text: `En cours d’envoi à ${to}.` };
    default: return mail.next_attempt_at
      ? { tone: 'warn', text: `En attente : ${mail.failure || 'l’envoi a échoué.'} Nouvel essai le ${dateTime(mail.next_attempt_at)}, à ${to}.` }
      : { tone: 'info', text: `En attente d’envoi à ${to}.` };
  }
}

const MAIL_PILL = { sent: ['E-mail envoyé', 'ok'], failed: ['E-mail en échec', 'bad'], sending: ['E-mail en cours', 'info'], waiting: ['E-mail en attente', 'info'] };

/** The beneficiary fields (minimal: a pseudonymous reference; the rest optional), filled with `b`. */
function beneficiaryFields(b = {}) {
  return [
    field({ label: 'Référence du bénéficiaire', name: 'reference', required: true, value: b.reference, hint: 'Votre numéro de dossier ou un code : jamais le nom de la personne.', autocomplete: 'off', maxlength: 100 }),
    field({ label: 'E-mail du bénéficiaire', name: 'email', type: 'email', value: b.email, hint: 'Pour lui envoyer le chéquier et un rappel avant expiration.', autocomplete: 'off' }),
    h('div.row',
      field({ label: 'Année de naissance', name: 'birth_year', inputmode: 'numeric', maxlength: 4, value: b.birth_year == null ? '' : String(b.birth_year) }),
      field({ label: 'Code postal', name: 'postcode', inputmode: 'numeric', maxlength: 5, value: b.postcode })),
    field({ label: 'Situation', name: 'situation', options: SITUATIONS, value: b.situation || '' }),
    choices('Publics', 'Seule votre structure voit ces réponses pour cette personne.', 'public', PUBLICS, b.publics || []),
    choices('Besoins', 'Ce que la personne souhaite apprendre.', 'need', NEEDS, b.needs || []),
  ];
}

function beneficiaryOf(values) {
  const b = { reference: values.reference || '' };
  if (values.email) b.email = values.email;
  if (values.birth_year) b.birth_year = /^\d+$/.test(values.birth_year) ? Number(values.birth_year) : values.birth_year;
  if (values.postcode) b.postcode = values.postcode;
  if (values.situation) b.situation = values.situation;
  b.publics = chosen(values, 'public', PUBLICS);
  b.needs = chosen(values, 'need', NEEDS);
  return b;
}

/** A correction: every field, an emptied one cleared (null). */
function correctionOf(values) {
  const b = beneficiaryOf(values);
  for (const name of ['email', 'birth_year', 'postcode', 'situation']) if (!(name in b)) b[name] = null;
  return b;
}

/** Problems on beneficiary.x point at the form's field x. */
function rename(err) {
  if (err instanceof ApiError && err.problem?.field?.startsWith('beneficiary.')) {
    err.problem.field = err.problem.field.slice('beneficiary.'.length);
  }
  return err;
}

/** Why a program issues nothing now, said on its card before the form. */
const BLOCKED_FOR_PRESCRIBER = {
  funds_not_received: 'Émission suspendue : un financeur n’a pas encore versé sa part. Vous pourrez émettre dès que l’opérateur l’aura reçu.',
  budget_exhausted: 'Émission impossible : le budget du dispositif est entièrement émis.',
};

function allocationsCard(programs) {
  return section('Mes dispositifs',
    programs.length
      ? h('ul.programs', programs.map((p) => {
        const a = p.allocations[0];
        return h('li',
          h('h3', p.name),
          h('p', `${p.tickets_per_checkbook} chèques de ${money(p.ticket_value)} par chéquier${p.status === 'closed' ? ' — dispositif clos' : ''}`),
          a ? h('p.big-number', h('strong', String(a.remaining_checkbooks)), ` chéquier(s) restant(s) sur ${a.checkbooks} alloué(s)`) : null,
          p.status === 'open' && p.issuance && !p.issuance.open ? h('p.alert.warn', BLOCKED_FOR_PRESCRIBER[p.issuance.reason]) : null);
      }))
      : h('p.empty', 'Aucun dispositif ne vous est encore alloué. L’opérateur vous attribue une dotation de chéquiers.'));
}

/** The program's column, only for a prescriber of several programs (narrower on a phone). */
function programColumn(names) {
  return Object.keys(names).length > 1 ? [{ label: 'Dispositif', cell: (b) => names[b.program_id] || '' }] : [];
}

/** The checkbooks to call: handed out, tickets unused, validity ending within 30 days. */
function expiringCard(books, names) {
  if (!books.length) return null;
  const sorted = books.slice().sort((a, b) => a.valid_until.localeCompare(b.valid_until));
  return section('Expirent bientôt',
    h('p.hint', 'Chéquiers remis dont des chèques ne sont pas utilisés et qui ne sont plus valables dans 30 jours au plus. Les bénéficiaires qui ont un e-mail reçoivent un rappel ; appelez les autres.'),
    table([
      { label: 'Chéquier', cell: (b) => h('a', { href: `/prescripteur/chequiers/${b.id}` }, b.number) },
      { label: 'Bénéficiaire', cell: (b) => b.beneficiary?.reference || '—' },
      { label: 'E-mail', cell: (b) => (b.beneficiary?.email ? h('span', email(b.beneficiary.email)) : pill('Aucun : à appeler', 'warn')) },
      { label: 'Valable jusqu’au', cell: (b) => day(b.valid_until) },
      { label: 'Non utilisés', cell: (b) => `${unused(b)} / ${b.tickets.length}`, class: 'num' },
      ...programColumn(names),
    ], sorted, { caption: 'Chéquiers qui expirent bientôt' }));
}

export async function homePage(main) {
  const [programs, books, expiring] = await Promise.all([
    all('/programs'), get('/checkbooks?limit=50'), all('/checkbooks?expiring_soon=true', 5),
  ]);
  const names = Object.fromEntries(programs.map((p) => [p.id, p.name]));
  const list = h('div');
  let query = '';
  let cursor = books.next_cursor;
  const rows = books.items.slice();
  const path = (after) => {
    const params = new URLSearchParams({ limit: '50' });
    if (query) params.set('q', query);
    if (after) params.set('cursor', after);
    return `/checkbooks?${params}`;
  };
  const draw = () => {
    const empty = query ? `Aucun chéquier ne correspond à « ${query} ».` : 'Aucun chéquier émis pour l’instant.';
    clear(list).append(table([
      { label: 'Chéquier', cell: (b) => h('a', { href: `/prescripteur/chequiers/${b.id}` }, b.number) },
      { label: 'Bénéficiaire', cell: (b) => b.beneficiary?.reference || '—' },
      { label: 'État', cell: (b) => statusPill(b.status) },
      { label: 'Chèques utilisés', cell: (b) => `${used(b)} / ${b.tickets.length}`, class: 'num' },
      { label: 'E-mail', cell: (b) => (b.mail ? pill(...MAIL_PILL[b.mail.status]) : '—') },
      ...programColumn(names),
      { label: 'Émis le', cell: (b) => day(b.issued_at) },
    ], rows, { caption: query ? `Chéquiers trouvés pour « ${query} »` : 'Mes chéquiers', empty }));
    if (cursor) {
      list.append(h('button.secondary', {
        type: 'button',
        onclick: async () => {
          const next = await get(path(cursor));
          rows.push(...next.items);
          cursor = next.next_cursor;
          draw();
        },
      }, 'Voir plus'));
    }
  };
  const search = form({
    label: 'Rechercher un chéquier',
    submit: 'Rechercher',
    class: 'inline',
    action: async (values) => {
      const previous = query;
      query = (values.q || '').trim();
      let found;
      try {
        found = await get(path(null));
      } catch (err) {
        query = previous;
        throw err;
      }
      rows.splice(0, rows.length, ...found.items);
      cursor = found.next_cursor;
      draw();
    },
  }, field({ label: 'Rechercher', name: 'q', type: 'search', hint: 'Référence du bénéficiaire, numéro de chéquier (CH-…) ou numéro d’un chèque, avec ou sans tirets.', autocomplete: 'off', maxlength: 64 }));
  draw();
  main.append(
    title('Chéquiers'),
    h('p', h('a.button.primary', { href: '/prescripteur/emettre' }, 'Émettre un chéquier')),
    allocationsCard(programs),
    expiringCard(expiring, names),
    section('Mes chéquiers', search, list),
  );
}

/** The print runs, newest first, each printed again on demand (the same tickets). */
function printRunsCard(runs, names) {
  if (!runs.length) return null;
  const newest = runs.slice().reverse();
  return section('Mes tirages',
    h('p.hint', 'Chaque tirage se réimprime à l’identique : les mêmes chéquiers, les mêmes chèques. Les chéquiers déjà remis ou annulés y figurent aussi.'),
    table([
      { label: 'Tirage du', cell: (r) => dateTime(r.created_at) },
      { label: 'Chéquiers', cell: (r) => (r.first_number === r.last_number ? r.first_number : `${r.first_number} à ${r.last_number}`) },
      { label: 'Où ils en sont', cell: (r) => `${r.in_stock} en stock, ${r.handed_out} remis, ${r.cancelled} annulé(s)` },
      ...programColumn(names),
      {
        label: 'PDF',
        cell: (r) => h('button.secondary', {
          type: 'button',
          'aria-label': `Réimprimer le tirage du ${dateTime(r.created_at)}`,
          onclick: async (e) => {
            e.target.disabled = true;
            try {
              await download(`/print-runs/${r.id}/pdf`, `chequiers-stock-${r.first_number || r.id}.pdf`);
            } finally {
              e.target.disabled = false;
            }
          },
        }, 'Réimprimer'),
      },
    ], newest, { caption: 'Mes tirages de chéquiers en stock' }));
}

export async function issuePage(main, { navigate }) {
  const [allPrograms, runs] = await Promise.all([all('/programs'), all('/print-runs', 5)]);
  const names = Object.fromEntries(allPrograms.map((p) => [p.id, p.name]));
  const programs = allPrograms.filter((p) => p.status === 'open');
  const options = programs.map((p) => {
    const left = p.allocations[0]?.remaining_checkbooks ?? 0;
    const blocked = p.issuance && !p.issuance.open ? ' (émission suspendue pour l’instant)' : '';
    return [p.id, `${p.name} — ${left} chéquier(s) restant(s)${blocked}`];
  });
  main.append(title('Émettre un chéquier'));
  if (!programs.length) {
    main.append(h('p.alert.info', 'Aucun dispositif ouvert ne vous est alloué : demandez une dotation à l’opérateur.'));
    const card = printRunsCard(runs, names);
    if (card) main.append(card);
    return;
  }
  let key = uuid();
  const issue = form({
    label: 'Chéquier pour un bénéficiaire',
    submit: 'Émettre et remettre le chéquier',
    action: async (values) => {
      let book;
      try {
        book = await post('/checkbooks', { program_id: values.program_id, beneficiary: beneficiaryOf(values) }, { headers: { 'Idempotency-Key': key } });
      } catch (err) {
        if (err instanceof ApiError && err.status < 500 && err.status !== 0) key = uuid();
        throw rename(err);
      }
      key = uuid();
      toast(`Chéquier ${book.number} émis.`);
      navigate(`/prescripteur/chequiers/${book.id}`);
    },
  },
  field({ label: 'Dispositif', name: 'program_id', required: true, options }),
  beneficiaryFields());
  let stockKey = uuid();
  const stock = form({
    label: 'Chéquiers en stock',
    submit: 'Préparer les chéquiers en stock',
    action: async (values) => {
      const count = Number(values.checkbooks);
      const run = await post('/print-runs', { program_id: values.program_id, checkbooks: Number.isInteger(count) ? count : values.checkbooks }, { headers: { 'Idempotency-Key': stockKey } });
      stockKey = uuid();
      toast(`${run.checkbooks.length} chéquier(s) en stock préparé(s).`);
      await download(`/print-runs/${run.id}/pdf`, `chequiers-stock-${run.checkbooks[0]?.number || run.id}.pdf`);
      navigate('/prescripteur');
    },
  },
  h('p.hint', 'Des chéquiers imprimés d’avance, à remettre plus tard : leurs chèques ne sont utilisables qu’une fois remis à un bénéficiaire.'),
  field({ label: 'Dispositif', name: 'program_id', required: true, options }),
  field({ label: 'Nombre de chéquiers', name: 'checkbooks', required: true, type: 'number', min: 1, max: 1000, value: '5', inputmode: 'numeric' }));
  main.append(section('Pour un bénéficiaire', issue), h('details.card', h('summary', 'Préparer des chéquiers en stock'), stock));
  const card = printRunsCard(runs, names);
  if (card) main.append(card);
}

export async function checkbookPage(main, { args, navigate }) {
  const [id] = args;
  let book = await get(`/checkbooks/${id}`);
  const program = await get(`/programs/${book.program_id}`).catch(() => null);
  const body = h('div');

  const draw = () => {
    clear(body);
    const b = book.beneficiary;
    const mail = mailState(book.mail);
    body.append(
      h('div.summary',
        h('p', statusPill(book.status)),
        h('dl',
          h('dt', 'Dispositif'), h('dd', program?.name || '—'),
          h('dt', 'Bénéficiaire'), h('dd', b ? b.reference : 'Pas encore remis'),
          b ? [h('dt', 'E-mail'), h('dd', b.email ? email(b.email) : 'Aucun')] : null,
          h('dt', 'Valable jusqu’au'), h('dd', day(book.valid_until)),
          h('dt', 'Émis le'), h('dd', dateTime(book.issued_at)),
          book.handed_out_at ? [h('dt', 'Remis le'), h('dd', dateTime(book.handed_out_at))] : null,
          book.cancelled_at ? [h('dt', 'Annulé le'), h('dd', `${dateTime(book.cancelled_at)} — ${book.cancel_reason || ''}`)] : null,
          h('dt', 'Chèques utilisés'), h('dd', `${used(book)} sur ${book.tickets.length}`))),
      h('div.actions.wrap',
        h('button.primary', { type: 'button', onclick: (e) => act(e.target, () => download(`/checkbooks/${book.id}/pdf`, `chequier-${book.number}.pdf`)) }, 'Télécharger le PDF'),
        h('button.secondary', { type: 'button', onclick: (e) => act(e.target, () => openPdf(`/checkbooks/${book.id}/pdf`)) }, 'Ouvrir pour imprimer')),
    );
    if (book.status === 'stock') body.append(section('Remettre ce chéquier à un bénéficiaire', handOutForm()));
    if (book.status === 'handed_out') body.append(section('E-mail', mail ? h(`p.alert.${mail.tone}`, mail.text) : h('p', 'Pas encore envoyé par e-mail.'), sendPart()));
    if (book.status === 'handed_out') body.append(h('details.card', h('summary', 'Corriger le bénéficiaire'), correctForm()));
    if (book.status !== 'cancelled') body.append(h('details.card.danger', h('summary', 'Chéquier perdu ou volé ?'), cancelForm()));
    // Two columns, so that the table fits a 360-px phone: every ticket has the
    // checkbook's value and validity, said once in the caption.
    const value = book.tickets[0] ? money(book.tickets[0].value) : '';
    body.append(section('Chèques', table([
      { label: 'Numéro', cell: (t) => h('span.mono', ticketName(t)) },
      { label: 'État', cell: (t) => TICKET_STATUS[t.status] || t.status },
    ], book.tickets, { caption: `${book.tickets.length} chèques de ${value}, valables jusqu’au ${day(book.valid_until)}` })));
  };

  const notice = h('div', { role: 'status', 'aria-live': 'polite' });
  async function act(button, fn) {
    button.disabled = true;
    clear(notice);
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof SessionExpired)) notice.append(h('p.alert.bad', { role: 'alert' }, err.message));
    } finally {
      button.disabled = false;
    }
  }

  function handOutForm() {
    return form({
      label: 'Remettre le chéquier',
      submit: 'Remettre le chéquier',
      action: async (values) => {
        try {
          book = await post(`/checkbooks/${book.id}/hand-out`, { beneficiary: beneficiaryOf(values) });
        } catch (err) {
          throw rename(err);
        }
        toast('Chéquier remis : ses chèques sont utilisables.');
        draw();
      },
    }, beneficiaryFields());
  }

  function correctForm() {
    return form({
      label: 'Corriger le bénéficiaire',
      submit: 'Enregistrer la correction',
      action: async (values) => {
        const before = book.beneficiary?.email || null;
        try {
          book = await patch(`/checkbooks/${book.id}`, { beneficiary: correctionOf(values) });
        } catch (err) {
          throw rename(err);
        }
        const after = book.beneficiary?.email || null;
        draw();
        clear(notice).append(h('p.alert.ok', after && after !== before
          ? `Bénéficiaire corrigé. Les prochains e-mails (rappel, renvoi) iront à ${after}.`
          : 'Bénéficiaire corrigé.'));
      },
    },
    h('p.hint', 'Une erreur de saisie, une adresse e-mail qui a changé ? Les chèques ne changent pas.'),
    beneficiaryFields(book.beneficiary || {}));
  }

  let sendKey = uuid();
  /** "Envoyer" the first time; once a mail exists, a deliberate "Renvoyer". */
  function sendPart() {
    const m = book.mail;
    const again = Boolean(m);
    const sendForm = form({
      label: again ? 'Renvoyer par e-mail' : 'Envoyer par e-mail',
      submit: again ? 'Renvoyer le chéquier' : 'Envoyer le chéquier',
      action: async (values) => {
        const payload = values.email ? { email: values.email } : {};
        await post(`/checkbooks/${book.id}/send`, payload, { headers: { 'Idempotency-Key': sendKey } });
        sendKey = uuid();
        book = await get(`/checkbooks/${book.id}`);
        draw();
        clear(notice).append(h('p.alert.ok', `Le chéquier part par e-mail à ${values.email || book.beneficiary?.email}.`));
      },
    }, field({ label: 'Adresse e-mail', name: 'email', type: 'email', value: book.beneficiary?.email || '', hint: 'Le PDF du chéquier et la liste des lieux les plus proches.' }));
    if (!again) return sendForm;
    const summary = m.status === 'sent' ? `Déjà envoyé le ${dateTime(m.sent_at)} : renvoyer ?` : 'Renvoyer le chéquier';
    return h('details', { open: m.status === 'failed' || undefined }, h('summary', summary), sendForm);
  }

  function cancelForm() {
    return form({
      label: 'Annuler le chéquier',
      submit: 'Annuler ce chéquier',
      action: async (values) => {
        if (!window.confirm(`Annuler le chéquier ${book.number} ? Ses chèques non utilisés ne seront plus acceptés. C’est définitif.`)) return;
        book = await post(`/checkbooks/${book.id}/cancel`, { reason: values.reason || '' });
        toast('Chéquier annulé.');
        draw();
      },
    },
    h('p', 'Ses chèques non utilisés seront refusés partout, et leur valeur revient au dispositif. Vous pourrez émettre un nouveau chéquier.'),
    field({ label: 'Motif', name: 'reason', required: true, hint: 'Par exemple : perdu, volé, erreur de saisie.', maxlength: 200 }));
  }

  main.append(
    h('p.back', h('a', { href: '/prescripteur' }, '← Mes chéquiers')),
    title(`Chéquier ${book.number}`),
    notice,
    body,
  );
  draw();
  void navigate;
}
