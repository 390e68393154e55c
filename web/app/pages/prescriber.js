// Prescriber agents: issue a checkbook for a beneficiary, print it, e-mail it, hand
// out a stock checkbook, cancel a lost one; their checkbooks; what is left to issue.

import { h, title, clear, field, form, money, day, dateTime, uuid, table, pill, toast, section } from '../dom.js';
import { get, post, all, download, openPdf, ApiError, SessionExpired } from '../api.js';
import { ticketName } from '../queue.js';

const SITUATIONS = [
  ['', '— non renseignée —'],
  ['job_seeker', 'Demandeur d’emploi'],
  ['employed', 'En emploi'],
  ['retired', 'Retraité'],
  ['student', 'Étudiant'],
  ['inactive', 'Sans activité'],
  ['other', 'Autre'],
];

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

/** The beneficiary fields (minimal: a pseudonymous reference; the rest optional). */
function beneficiaryFields() {
  return [
    field({ label: 'Référence du bénéficiaire', name: 'reference', required: true, hint: 'Votre numéro de dossier ou un code : jamais le nom de la personne.', autocomplete: 'off', maxlength: 100 }),
    field({ label: 'E-mail du bénéficiaire', name: 'email', type: 'email', hint: 'Pour lui envoyer le chéquier et un rappel avant expiration.', autocomplete: 'off' }),
    h('div.row',
      field({ label: 'Année de naissance', name: 'birth_year', inputmode: 'numeric', maxlength: 4 }),
      field({ label: 'Code postal', name: 'postcode', inputmode: 'numeric', maxlength: 5 })),
    field({ label: 'Situation', name: 'situation', options: SITUATIONS }),
  ];
}

function beneficiaryOf(values) {
  const b = { reference: values.reference || '' };
  if (values.email) b.email = values.email;
  if (values.birth_year) b.birth_year = /^\d+$/.test(values.birth_year) ? Number(values.birth_year) : values.birth_year;
  if (values.postcode) b.postcode = values.postcode;
  if (values.situation) b.situation = values.situation;
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

export async function homePage(main) {
  const [programs, books] = await Promise.all([all('/programs'), get('/checkbooks?limit=50')]);
  const names = Object.fromEntries(programs.map((p) => [p.id, p.name]));
  const list = h('div');
  let cursor = books.next_cursor;
  const rows = books.items.slice();
  const draw = () => {
    clear(list).append(table([
      { label: 'Chéquier', cell: (b) => h('a', { href: `/prescripteur/chequiers/${b.id}` }, b.number) },
      { label: 'Bénéficiaire', cell: (b) => b.beneficiary?.reference || '—' },
      { label: 'Dispositif', cell: (b) => names[b.program_id] || '' },
      { label: 'État', cell: (b) => statusPill(b.status) },
      { label: 'Chèques utilisés', cell: (b) => `${used(b)} / ${b.tickets.length}`, class: 'num' },
      { label: 'Émis le', cell: (b) => day(b.issued_at) },
    ], rows, { caption: 'Mes chéquiers', empty: 'Aucun chéquier émis pour l’instant.' }));
    if (cursor) {
      list.append(h('button.secondary', {
        type: 'button',
        onclick: async () => {
          const next = await get(`/checkbooks?limit=50&cursor=${encodeURIComponent(cursor)}`);
          rows.push(...next.items);
          cursor = next.next_cursor;
          draw();
        },
      }, 'Voir plus'));
    }
  };
  draw();
  main.append(
    title('Chéquiers'),
    h('p', h('a.button.primary', { href: '/prescripteur/emettre' }, 'Émettre un chéquier')),
    allocationsCard(programs),
    section('Mes chéquiers', list),
  );
}

export async function issuePage(main, { navigate }) {
  const programs = (await all('/programs')).filter((p) => p.status === 'open');
  const options = programs.map((p) => {
    const left = p.allocations[0]?.remaining_checkbooks ?? 0;
    const blocked = p.issuance && !p.issuance.open ? ' (émission suspendue pour l’instant)' : '';
    return [p.id, `${p.name} — ${left} chéquier(s) restant(s)${blocked}`];
  });
  main.append(title('Émettre un chéquier'));
  if (!programs.length) {
    main.append(h('p.alert.info', 'Aucun dispositif ouvert ne vous est alloué : demandez une dotation à l’opérateur.'));
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
}

export async function checkbookPage(main, { args, navigate }) {
  const [id] = args;
  let book = await get(`/checkbooks/${id}`);
  const program = await get(`/programs/${book.program_id}`).catch(() => null);
  const body = h('div');

  const draw = () => {
    clear(body);
    const b = book.beneficiary;
    body.append(
      h('div.summary',
        h('p', statusPill(book.status)),
        h('dl',
          h('dt', 'Dispositif'), h('dd', program?.name || '—'),
          h('dt', 'Bénéficiaire'), h('dd', b ? `${b.reference}${b.email ? ` (${b.email})` : ''}` : 'Pas encore remis'),
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
    if (book.status === 'handed_out') body.append(section('Envoyer par e-mail', sendForm()));
    if (book.status !== 'cancelled') body.append(h('details.card.danger', h('summary', 'Chéquier perdu ou volé ?'), cancelForm()));
    body.append(section('Chèques', table([
      { label: 'Numéro', cell: (t) => h('span.mono', ticketName(t)) },
      { label: 'Valeur', cell: (t) => money(t.value), class: 'num' },
      { label: 'État', cell: (t) => TICKET_STATUS[t.status] || t.status },
      { label: 'Valable jusqu’au', cell: (t) => day(t.valid_until) },
    ], book.tickets, { caption: 'Chèques du chéquier' })));
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

  let sendKey = uuid();
  function sendForm() {
    return form({
      label: 'Envoyer par e-mail',
      submit: 'Envoyer le chéquier',
      action: async (values) => {
        const payload = values.email ? { email: values.email } : {};
        await post(`/checkbooks/${book.id}/send`, payload, { headers: { 'Idempotency-Key': sendKey } });
        sendKey = uuid();
        clear(notice).append(h('p.alert.ok', `Le chéquier part par e-mail à ${values.email || book.beneficiary?.email}.`));
        toast('E-mail en cours d’envoi.');
      },
    }, field({ label: 'Adresse e-mail', name: 'email', type: 'email', value: book.beneficiary?.email || '', hint: 'Le PDF du chéquier et la liste des lieux les plus proches.' }));
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
