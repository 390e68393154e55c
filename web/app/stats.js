// A program's statistics as charts: the usage funnel, by month, prescriber and site.
// Shared by the funders' and the operator's pages.

import { h, money, month, percent, table } from './dom.js';
import { bars } from './charts.js';

const n = new Intl.NumberFormat('fr-FR');

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

export function statsView(stats) {
  const a = stats.amounts;
  return h('div.stats',
    h('div.kpis',
      kpi('Taux d’usage', stats.usage_rate ? percent(stats.usage_rate) : '—'),
      kpi("Chèques utilisés", n.format(stats.tickets.redeemed)),
      kpi('Montant utilisé', money(a.redeemed)),
      kpi('En circulation', money(a.outstanding))),
    funnel(stats),
    bars({
      heading: 'Chèques utilisés par mois',
      rows: stats.by_month.map((m) => ({ label: month(m.month), value: m.tickets_redeemed, text: `${n.format(m.tickets_redeemed)} · ${money(m.amount_redeemed)}` })),
    }),
    bars({
      heading: 'Par prescripteur : chéquiers remis et entamés',
      rows: stats.by_prescriber.flatMap((p) => [
        { label: `${p.name} — remis`, value: p.checkbooks_handed_out },
        { label: `${p.name} — entamés`, value: p.checkbooks_started, tone: 'alt' },
      ]),
    }),
    bars({
      heading: 'Par lieu : chèques utilisés',
      rows: stats.by_site.map((site) => ({ label: site.name, value: site.tickets_redeemed, text: `${n.format(site.tickets_redeemed)} · ${money(site.amount_redeemed)}` })),
    }),
    h('details',
      h('summary', 'Les chiffres en tableaux'),
      table([
        { label: 'Prescripteur', cell: (p) => p.name },
        { label: 'Chéquiers émis', cell: (p) => n.format(p.checkbooks_issued), class: 'num' },
        { label: 'Remis', cell: (p) => n.format(p.checkbooks_handed_out), class: 'num' },
        { label: 'Entamés', cell: (p) => n.format(p.checkbooks_started), class: 'num' },
        { label: 'Chèques utilisés', cell: (p) => n.format(p.tickets_redeemed), class: 'num' },
        { label: 'Expirés', cell: (p) => n.format(p.tickets_expired), class: 'num' },
      ], stats.by_prescriber, { caption: 'Par prescripteur' }),
      table([
        { label: 'Lieu', cell: (x) => `${x.name} (${x.city})` },
        { label: 'Chèques utilisés', cell: (x) => n.format(x.tickets_redeemed), class: 'num' },
        { label: 'Montant', cell: (x) => money(x.amount_redeemed), class: 'num' },
        { label: 'Remboursé', cell: (x) => money(x.amount_settled), class: 'num' },
      ], stats.by_site, { caption: 'Par lieu' }),
      table([
        { label: 'Mois', cell: (m) => month(m.month) },
        { label: 'Chèques utilisés', cell: (m) => n.format(m.tickets_redeemed), class: 'num' },
        { label: 'Montant', cell: (m) => money(m.amount_redeemed), class: 'num' },
        { label: 'Remboursés', cell: (m) => n.format(m.tickets_settled), class: 'num' },
      ], stats.by_month, { caption: 'Par mois' })),
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

/** The money of a program: received, available, outstanding, and its cover. */
export function moneyView(program, cover) {
  const f = program.funding;
  return h('div.kpis',
    f ? [
      kpi('Reçu des financeurs', money(f.received)),
      kpi('Disponible', money(f.available)),
      kpi('Chèques en circulation', money(f.outstanding)),
      kpi('Encore émettable', money(f.issuable), ISSUANCE_BLOCKED[program.issuance?.reason]),
    ] : null,
    cover ? kpi('Couverture', cover.covered ? 'Couvert' : 'NON couvert',
      `${money(cover.held)} détenus pour ${money((Number(cover.outstanding) + Number(cover.owed_to_sites)).toFixed(2))} dus (chèques en circulation et lieux)`) : null,
  );
}
