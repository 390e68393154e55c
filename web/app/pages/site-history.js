// A site's history ("Historique"): scans month by month, what will be paid for the
// months not yet settled and which statement paid the others.

import { h, title, section, table, money, month, day, pill } from '../dom.js';
import { get, all } from '../api.js';
import { followUpSection } from '../follow-up.js';

/** Settled months name their statement, and its transfer once confirmed. */
function paidBy(m, paid) {
  if (m.status !== 'settled') return pill('À régler', 'warn');
  if (!m.statement) return pill('Réglé', 'ok');
  const st = paid.get(m.statement.number);
  return h('span', pill('Réglé', 'ok'), ' ', h('span.mono', m.statement.number),
    st?.paid_on ? h('span.paid', ` — payé le ${day(st.paid_on)}, référence ${st.bank_reference}`) : h('span.hint', ' — virement à venir'));
}

export async function siteHistoryPage(main, { me }) {
  const [history, statements] = await Promise.all([
    get(`/sites/${me.organization.id}/history`),
    all(`/statements?organization_id=${me.organization.id}`),
  ]);
  const paid = new Map(statements.map((st) => [st.number, st]));
  const pending = history.months.filter((m) => m.status === 'pending');
  const followUps = await followUpSection();
  main.append(
    title('Historique des encaissements'),
    section('À venir',
      pending.length
        ? h('p.big-number', { id: 'pending-total' }, h('strong', money(history.pending_total)))
        : h('p', 'Rien en attente : tous vos encaissements ont été réglés.'),
      pending.length ? h('p.hint', 'Montant que votre lieu recevra au prochain remboursement mensuel, pour les chèques encaissés et pas encore réglés (commission déduite, s’il y en a une).') : null),
    section('Mois par mois',
      h('p.hint', 'Pour un mois réglé, le montant est celui du relevé de paiement : retrouvez-le dans ', h('a', { href: '/site/releves' }, 'Mes relevés'), '.'),
      table([
        { label: 'Mois', cell: (m) => month(m.month) },
        { label: 'Chèques', cell: (m) => String(m.tickets), class: 'num' },
        { label: 'Scans annulés', cell: (m) => String(m.reversed), class: 'num' },
        { label: 'Valeur faciale', cell: (m) => money(m.face_value), class: 'num' },
        { label: 'Pour le lieu', cell: (m) => money(m.amount_payable), class: 'num' },
        { label: 'Règlement', cell: (m) => paidBy(m, paid) },
        { label: 'Période réglée', cell: (m) => (m.period_start ? `du ${day(m.period_start)} au ${day(m.period_end)}` : '—') },
      ], history.months, { caption: 'Encaissements par mois', empty: 'Aucun chèque encaissé pour l’instant.' })),
    followUps,
  );
}
