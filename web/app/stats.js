// A program's statistics as charts, each with its table and its CSV (the API's
// `GET /programs/{id}/stats.csv?breakdown=…`, in the form French Excel opens as it
// is): the usage funnel, by month, prescriber and site, then every breakdown of
// people the API lists in `breakdowns` (age, situation, public, département,
// commune, and those to come), drawn from its titles and labels without knowing
// each one. A group of fewer than five people (`"<5"`) reads "moins de 5", with why.
// Shared by the funders', the operator's and the public pages. The money words are
// explained where they appear, in one short plain sentence.

import { h, money, month, percent, table } from './dom.js';
import { download, SessionExpired } from './api.js';
import { bars } from './charts.js';

const n = new Intl.NumberFormat('fr-FR');

/** One short plain-French explanation per money or usage word, shown under it. */
export const WORDS = {
  received: 'L’argent que les financeurs ont versé pour ce dispositif.',
  available: 'Reçu et pas encore engagé : de quoi émettre de nouveaux chèques.',
  outstanding: 'Valeur des chèques émis (remis ou en stock) pas encore utilisés ni expirés.',
  issuable: 'Ce qui peut encore être émis : dans la limite du budget et de ce que chaque financeur a déjà versé.',
  cover: 'Couvert : l’argent détenu (reçu, moins ce qui est déjà payé ou rendu) suffit à payer tous les chèques en circulation et ce qui est dû aux lieux.',
  held: 'Détenu : l’argent reçu des financeurs, moins ce qui a déjà été versé aux lieux ou rendu.',
  usage: 'Chèques utilisés ÷ chèques remis aux bénéficiaires (les chèques encore en stock ne comptent pas).',
  used: 'Chèques encaissés par un lieu de formation, remboursés au lieu ou pas encore.',
  amountUsed: 'Valeur faciale des chèques utilisés.',
};

/** The API's mark of a count of people too small to be given. */
const SECRET = '<5';
export const HIDDEN_TEXT = 'moins de 5';
export const HIDDEN_WHY = '« moins de 5 » : pour que personne ne puisse être reconnu, un groupe de moins de 5 personnes n’est pas chiffré (ni, parfois, un autre petit groupe avec lui, pour qu’on ne puisse pas le déduire du total).';

/** A count of people as written: the number, or "moins de 5". */
const people = (v) => (v === SECRET ? HIDDEN_TEXT : n.format(v));
/** A figure about people that may be hidden (`null`): the number or "—". */
const maybe = (v, format = (x) => n.format(x)) => (v === null || v === undefined ? '—' : format(v));

/** "Télécharger en CSV" for one breakdown of a program's statistics. */
function csvButton(programId, breakdown, what) {
  const notice = h('span', { role: 'status' });
  const button = h('button.link', {
    type: 'button',
    'aria-label': `Télécharger en CSV : ${what}`,
    onclick: async () => {
      button.disabled = true;
      notice.textContent = '';
      try {
        await download(`/programs/${programId}/stats.csv?breakdown=${breakdown}`, `statistiques-${breakdown}.csv`);
      } catch (err) {
        if (!(err instanceof SessionExpired)) notice.textContent = ` ${err.message}`;
      } finally {
        button.disabled = false;
      }
    },
  }, 'Télécharger en CSV (Excel)');
  return h('p.chart-csv', button, notice);
}

/** A chart, the table of its figures (read by screen readers, copied by hand) and its CSV. */
function chartWithTableAndCsv({ stats, breakdown, heading, caption, rows, columns, data, csv }) {
  const figure = bars({ heading, caption, rows });
  // Element.append would write a null out: only the parts there are.
  figure.append(...[
    table(columns, data, { caption: `${heading} — le tableau`, empty: 'Pas encore de données.' }),
    csv ? csvButton(stats.program_id, breakdown, heading) : null,
  ].filter(Boolean));
  return figure;
}

export function funnel(stats) {
  const c = stats.checkbooks;
  const t = stats.tickets;
  const used = t.redeemed;
  const ticketsIssued = Math.max(1, t.issued);
  const booksIssued = Math.max(1, c.issued);
  const pc = (v, of) => `${n.format(v)} (${Math.round((v / of) * 100)} %)`;
  return bars({
    heading: 'Entonnoir d’usage',
    caption: 'Chéquiers émis → remis aux bénéficiaires → entamés (un chèque utilisé) ; puis chèques utilisés et expirés, sur les chèques émis.',
    rows: [
      { label: 'Chéquiers émis', value: c.issued / booksIssued, text: n.format(c.issued) },
      { label: 'Chéquiers remis', value: c.handed_out / booksIssued, text: pc(c.handed_out, booksIssued) },
      { label: 'Chéquiers entamés', value: c.started / booksIssued, text: pc(c.started, booksIssued) },
      { label: 'Chèques utilisés', value: used / ticketsIssued, text: `${pc(used, ticketsIssued)} sur ${n.format(t.issued)}`, tone: 'alt' },
      { label: 'Chèques expirés', value: t.expired / ticketsIssued, text: pc(t.expired, ticketsIssued), tone: 'warn' },
    ],
    max: 1,
  });
}

/** The funnel with its table and CSV. */
function funnelWithTable(stats, csv) {
  const c = stats.checkbooks;
  const t = stats.tickets;
  const figure = funnel(stats);
  const steps = [
    ['Chéquiers émis', c.issued], ['Chéquiers remis aux bénéficiaires', c.handed_out], ['Chéquiers entamés', c.started],
    ['Chèques émis', t.issued], ['Chèques utilisés', t.redeemed], ['Chèques expirés', t.expired],
    ['Chèques annulés', t.cancelled], ['Chèques en circulation', t.outstanding],
  ];
  // Element.append would write a null out: only the parts there are.
  figure.append(...[
    table([
      { label: 'Étape', cell: (r) => r[0] },
      { label: 'Nombre', cell: (r) => n.format(r[1]), class: 'num' },
    ], steps, { caption: 'Entonnoir d’usage — le tableau' }),
    csv ? csvButton(stats.program_id, 'funnel', 'Entonnoir d’usage') : null,
  ].filter(Boolean));
  return figure;
}

/**
 * One breakdown of people (`stats.breakdowns[i]`: `{key, title, note, rows: [{key,
 * label, people, people_started, …}]}`): bars of people, its table and its CSV.
 * `csv`: whether the CSV button is offered (not on the public page).
 */
export function peopleBreakdown(stats, b, { csv = true } = {}) {
  const hidden = b.rows.some((r) => r.people === SECRET || r.people_started === SECRET);
  const figure = bars({
    heading: b.title,
    caption: b.note ? `${b.note} Personnes (chéquiers remis) par groupe.` : 'Personnes (chéquiers remis) par groupe.',
    rows: b.rows.map((r) => (r.people === SECRET
      ? { label: r.label, value: 0, text: HIDDEN_TEXT, tone: 'secret' }
      : { label: r.label, value: r.people, text: `${n.format(r.people)} personnes` })),
  });
  // Element.append would write a null out: only the parts there are.
  figure.append(...[
    hidden ? h('p.hint.secret-why', HIDDEN_WHY) : null,
    table([
      { label: 'Groupe', cell: (r) => r.label },
      { label: 'Personnes', cell: (r) => people(r.people), class: 'num' },
      { label: 'Ont utilisé un chèque', cell: (r) => people(r.people_started), class: 'num' },
      { label: 'Chèques remis', cell: (r) => maybe(r.tickets_handed_out), class: 'num' },
      { label: 'Chèques utilisés', cell: (r) => maybe(r.tickets_redeemed), class: 'num' },
      { label: 'Montant', cell: (r) => maybe(r.amount_redeemed, money), class: 'num' },
      { label: 'Taux d’usage', cell: (r) => maybe(r.usage_rate, percent), class: 'num' },
    ], b.rows, { caption: `${b.title} — le tableau`, empty: 'Pas encore de données.' }),
    csv ? csvButton(stats.program_id, b.key, b.title) : null,
  ].filter(Boolean));
  return figure;
}

/** Every chart of a program's statistics. `csv`: whether CSV buttons are offered. */
export function statsView(stats, { csv = true } = {}) {
  const a = stats.amounts;
  const chartWithTable = (opts) => chartWithTableAndCsv({ ...opts, csv });
  return h('div.stats',
    h('div.kpis',
      kpi('Taux d’usage', stats.usage_rate ? percent(stats.usage_rate) : '—', WORDS.usage),
      kpi('Chèques utilisés', n.format(stats.tickets.redeemed), WORDS.used),
      kpi('Montant utilisé', money(a.redeemed), WORDS.amountUsed),
      kpi('En circulation', money(a.outstanding), WORDS.outstanding)),
    funnelWithTable(stats, csv),
    chartWithTable({
      stats,
      breakdown: 'month',
      heading: 'Chèques utilisés par mois',
      rows: stats.by_month.map((m) => ({ label: month(m.month), value: m.tickets_redeemed, text: `${n.format(m.tickets_redeemed)} · ${money(m.amount_redeemed)}` })),
      columns: [
        { label: 'Mois', cell: (m) => month(m.month) },
        { label: 'Chèques utilisés', cell: (m) => n.format(m.tickets_redeemed), class: 'num' },
        { label: 'Montant', cell: (m) => money(m.amount_redeemed), class: 'num' },
        { label: 'Remboursés', cell: (m) => n.format(m.tickets_settled), class: 'num' },
      ],
      data: stats.by_month,
    }),
    chartWithTable({
      stats,
      breakdown: 'prescriber',
      heading: 'Par prescripteur : chéquiers remis et entamés',
      rows: stats.by_prescriber.flatMap((p) => [
        { label: `${p.name} — remis`, value: p.checkbooks_handed_out },
        { label: `${p.name} — entamés`, value: p.checkbooks_started, tone: 'alt' },
      ]),
      columns: [
        { label: 'Prescripteur', cell: (p) => p.name },
        { label: 'Chéquiers émis', cell: (p) => n.format(p.checkbooks_issued), class: 'num' },
        { label: 'Remis', cell: (p) => n.format(p.checkbooks_handed_out), class: 'num' },
        { label: 'Entamés', cell: (p) => n.format(p.checkbooks_started), class: 'num' },
        { label: 'Chèques utilisés', cell: (p) => n.format(p.tickets_redeemed), class: 'num' },
        { label: 'Expirés', cell: (p) => n.format(p.tickets_expired), class: 'num' },
      ],
      data: stats.by_prescriber,
    }),
    chartWithTable({
      stats,
      breakdown: 'site',
      heading: 'Par lieu : chèques utilisés',
      rows: stats.by_site.map((site) => ({ label: site.name, value: site.tickets_redeemed, text: `${n.format(site.tickets_redeemed)} · ${money(site.amount_redeemed)}` })),
      columns: [
        { label: 'Lieu', cell: (x) => `${x.name} (${x.city})` },
        { label: 'Chèques utilisés', cell: (x) => n.format(x.tickets_redeemed), class: 'num' },
        { label: 'Montant', cell: (x) => money(x.amount_redeemed), class: 'num' },
        { label: 'Remboursé', cell: (x) => money(x.amount_settled), class: 'num' },
      ],
      data: stats.by_site,
    }),
    (stats.breakdowns || []).map((b) => peopleBreakdown(stats, b, { csv })),
  );
}

function kpi(label, value, note) {
  return h('div.kpi', h('span.kpi-label', label), h('strong.kpi-value', value), note ? h('span.kpi-note', note) : null);
}

/** Why a program issues nothing now (its `issuance.reason`), in a few words. */
export const ISSUANCE_BLOCKED = {
  funds_not_received: 'Bloqué : un financeur n’a pas encore versé sa part.',
  budget_exhausted: 'Bloqué : le budget est entièrement émis.',
  program_closed: 'Dispositif clos.',
};

/**
 * Why a program issues nothing now, in a sentence: for a payment awaited, the funder
 * by name (“votre” for the reader's own organisation) and, when the reader may see
 * it, the least it must still pay for one more checkbook.
 */
export function issuanceNote(program, myOrganizationId) {
  const i = program.issuance;
  if (!i || i.open) return null;
  if (i.reason !== 'funds_not_received' || !i.funder_name) return ISSUANCE_BLOCKED[i.reason] || null;
  const who = i.funder_id === myOrganizationId ? 'de votre versement' : `du versement de ${i.funder_name}`;
  const missing = i.missing_amount ? ` : il manque ${money(i.missing_amount)} pour émettre un chéquier de plus` : '';
  return `Bloqué : en attente ${who}${missing}.`;
}

/** The money of a program: received, available, outstanding, and its cover. */
export function moneyView(program, cover, myOrganizationId) {
  const f = program.funding;
  return h('div.kpis',
    f ? [
      kpi('Reçu des financeurs', money(f.received), WORDS.received),
      kpi('Disponible', money(f.available), WORDS.available),
      kpi('Chèques en circulation', money(f.outstanding), WORDS.outstanding),
      kpi('Encore émettable', money(f.issuable), issuanceNote(program, myOrganizationId) || WORDS.issuable),
    ] : null,
    cover ? kpi('Couverture', cover.covered ? 'Couvert' : 'NON couvert',
      `${money(cover.held)} détenus pour ${money((Number(cover.outstanding) + Number(cover.owed_to_sites)).toFixed(2))} dus (chèques en circulation et lieux). ${WORDS.cover} ${WORDS.held}`) : null,
  );
}
