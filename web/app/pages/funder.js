// Funders: their programs with money and usage, and their statements to download.

import { h, title, clear, money, day, percent, table, section, pill } from '../dom.js';
import { get, all, download, SessionExpired } from '../api.js';
import { statsView, moneyView, funnel, issuanceNote } from '../stats.js';

export const KIND = {
  site_payout: 'Relevé de paiement (lieu)',
  funder_bill: 'Relevé d’utilisation (financeur)',
  commission: 'Commission de l’opérateur',
  credit_note: 'Avoir (clôture)',
};

/** The statements list with CSV and PDF downloads; `orgNames` names the parties. */
export function statementsTable(statements, orgNames = {}) {
  const notice = h('div', { role: 'status' });
  const dl = async (button, path, filename) => {
    button.disabled = true;
    clear(notice);
    try {
      await download(path, filename);
    } catch (err) {
      if (!(err instanceof SessionExpired)) notice.append(h('p.alert.bad', { role: 'alert' }, err.message));
    } finally {
      button.disabled = false;
    }
  };
  return h('div', notice, table([
    { label: 'Relevé', cell: (st) => h('span.mono', st.number) },
    { label: 'Nature', cell: (st) => KIND[st.kind] || st.kind },
    orgNames && Object.keys(orgNames).length ? { label: 'Organisation', cell: (st) => orgNames[st.organization_id] || '' } : null,
    { label: 'Période', cell: (st) => `du ${day(st.period_start)} au ${day(st.period_end)}` },
    { label: 'Total', cell: (st) => money(st.total), class: 'num' },
    statements.some((st) => st.kind === 'site_payout')
      ? { label: 'Virement', cell: (st) => (st.kind !== 'site_payout' ? '—' : st.paid_on ? h('span.paid', `payé le ${day(st.paid_on)}, référence ${st.bank_reference}`) : pill('à venir', 'warn')) }
      : null,
    {
      label: 'Télécharger',
      cell: (st) => h('span.downloads',
        h('button.link', { type: 'button', 'aria-label': `Relevé ${st.number} en CSV`, onclick: (e) => dl(e.target, `/statements/${st.id}/csv`, `${st.number}.csv`) }, 'CSV'),
        ' ',
        h('button.link', { type: 'button', 'aria-label': `Relevé ${st.number} en PDF`, onclick: (e) => dl(e.target, `/statements/${st.id}/pdf`, `${st.number}.pdf`) }, 'PDF')),
    },
  ].filter(Boolean), statements, { caption: 'Relevés', empty: 'Aucun relevé pour l’instant : ils sont établis à chaque remboursement mensuel.' }));
}

function shareOf(program, orgId) {
  return program.funders.find((f) => f.organization_id === orgId);
}

export async function programsPage(main, { me }) {
  const [programs, cover] = await Promise.all([all('/programs'), get('/ledger/cover').catch(() => null)]);
  main.append(title('Mes dispositifs'));
  if (!programs.length) {
    main.append(h('p.empty', 'Vous ne financez encore aucun dispositif.'));
    return;
  }
  const stats = await Promise.all(programs.map((p) => get(`/programs/${p.id}/stats`).catch(() => null)));
  programs.forEach((p, i) => {
    const mine = shareOf(p, me.organization.id);
    const c = cover?.programs?.find((x) => x.program_id === p.id);
    main.append(h('section.card',
      h('h2', h('a', { href: `/financeur/dispositifs/${p.id}` }, p.name), ' ', p.status === 'closed' ? pill('Clos', 'warn') : pill('Ouvert', 'ok')),
      mine ? h('p', `Votre part : ${percent(mine.share)} — engagé ${money(mine.committed)}, versé ${money(mine.paid)}.`) : null,
      moneyView(p, c, me.organization.id),
      stats[i] ? funnel(stats[i]) : null,
      h('p', h('a', { href: `/financeur/dispositifs/${p.id}` }, `Détail du dispositif ${p.name} (par mois, prescripteur et lieu)`))));
  });
}

/**
 * Why the program issues nothing now, above its money: for a payment awaited, the
 * funder by name, what it must still pay for one more checkbook and what is left of
 * its pledge.
 */
function blockedNote(program, me) {
  const note = issuanceNote(program, me?.organization?.id);
  if (!note) return null;
  const i = program.issuance;
  const awaited = i.reason === 'funds_not_received' ? shareOf(program, i.funder_id) : null;
  const left = awaited?.committed && awaited?.paid ? Number(awaited.committed) - Number(awaited.paid) : 0;
  return h('p.alert.warn', { role: 'status' },
    note.replace(/^Bloqué/, 'Émission bloquée'),
    left > 0 ? ` Il reste ${money(left.toFixed(2))} à verser sur son engagement de ${money(awaited.committed)}.` : '',
    i.reason === 'funds_not_received' ? ' Les prescripteurs ne peuvent rien émettre d’ici là.' : '');
}

export async function programPage(main, { args, me }) {
  const [id] = args;
  const [program, stats, cover] = await Promise.all([
    get(`/programs/${id}`),
    get(`/programs/${id}/stats`),
    get('/ledger/cover').catch(() => null),
  ]);
  main.append(
    h('p.back', h('a', { href: '/financeur' }, '← Mes dispositifs')),
    title(program.name),
    blockedNote(program, me),
    section('Argent du dispositif', moneyView(program, cover?.programs?.find((x) => x.program_id === id), me?.organization?.id)),
    section('Usage', statsView(stats)),
  );
}

export async function statementsPage(main) {
  const statements = await all('/statements');
  main.append(title('Mes relevés'), section('Relevés à télécharger',
    h('p.hint', 'Le CSV s’ouvre tel quel dans Excel, pour votre comptabilité ; le PDF est à signer et archiver.'),
    h('p.hint', 'Un relevé d’utilisation liste les chèques utilisés : ils sont déjà couverts par vos versements, il n’y a rien à payer pour eux. Seuls les frais de gestion, s’il y en a, sont à payer.'),
    statementsTable(statements)));
}
