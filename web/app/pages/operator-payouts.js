// Money out (operator): each settlement is a bank batch — its SEPA file to download
// and upload to the bank, its site payouts to mark paid one by one or all at once
// (the day the transfer left and the bank's reference); the unpaid payouts on the
// dashboard, with their age.

import { h, clear, field, form, money, day, table, section, pill, parisToday } from '../dom.js';
import { get, post, all, download, SessionExpired } from '../api.js';

const plural = (n, one, many) => `${n} ${n > 1 ? many : one}`;

/** The dashboard's lines for the payouts settled and not yet confirmed paid. */
export function unpaidAlerts(alerts) {
  const unpaid = alerts.unpaid_payouts || [];
  if (!unpaid.length) return [];
  const total = unpaid.reduce((sum, u) => sum + Number(u.total), 0);
  const oldest = unpaid[0];
  return [h('li.alert.warn',
    h('strong', `${plural(unpaid.length, 'virement à confirmer', 'virements à confirmer')}. `),
    `${money(total.toFixed(2))} dus aux lieux sur des relevés réglés et pas encore marqués payés ; le plus ancien (${oldest.number}, ${oldest.name}) attend ${oldest.age_days > 0 ? `depuis ${plural(oldest.age_days, 'jour', 'jours')}` : 'depuis aujourd’hui'}. `,
    h('a', { href: '/operateur/remboursements#virements' }, 'Voir les virements'))];
}

function paidForm(submit, action) {
  return form({ class: 'inline-form', submit, action },
    h('div.row',
      field({ label: 'Virement parti le', name: 'paid_on', type: 'date', required: true, value: parisToday() }),
      field({ label: 'Référence de la banque', name: 'bank_reference', required: true, maxlength: 140, autocomplete: 'off', hint: 'Celle du relevé bancaire ou de la remise.' })));
}

/** One settlement: its file, its payouts and their state. */
async function batchBlock(settlementId, orgNames, redraw) {
  const s = await get(`/settlements/${settlementId}`);
  const payouts = s.statements.filter((st) => st.kind === 'site_payout');
  const noIban = new Set(s.missing_iban.map((m) => m.statement_id));
  const unpaid = payouts.filter((st) => !st.paid_on);
  const notice = h('div', { role: 'status' });
  const transferable = payouts.length - s.missing_iban.length;
  const file = h('button.secondary', {
    type: 'button',
    onclick: async (e) => {
      const b = e.currentTarget;
      b.disabled = true;
      clear(notice);
      try {
        await download(`/settlements/${s.id}/sepa.xml`, `virements-${s.period_start}-${s.period_end}.xml`);
      } catch (err) {
        if (!(err instanceof SessionExpired)) notice.append(h('p.alert.bad', { role: 'alert' }, err.message));
      } finally {
        b.disabled = false;
      }
    },
  }, 'Télécharger le fichier de virements (SEPA)');
  const rows = table([
    { label: 'Relevé', cell: (st) => h('span.mono', st.number) },
    { label: 'Lieu', cell: (st) => orgNames[st.organization_id] || '' },
    { label: 'Montant', cell: (st) => money(st.total), class: 'num' },
    {
      label: 'Virement',
      cell: (st) => (st.paid_on
        ? h('span.paid', `payé le ${day(st.paid_on)}, référence ${st.bank_reference}`)
        : pill(noIban.has(st.id) ? 'sans IBAN' : 'à confirmer', 'warn')),
    },
  ], payouts, { caption: `Virements du ${day(s.period_start)} au ${day(s.period_end)}`, empty: 'Aucun lieu à payer dans ce remboursement.' });
  return h('div.batch',
    h('h3', `Remboursement du ${day(s.period_start)} au ${day(s.period_end)}`),
    h('p', `${plural(payouts.length, 'relevé de paiement', 'relevés de paiement')}, ${plural(unpaid.length, 'à confirmer', 'à confirmer')}.`),
    s.missing_iban.length
      ? h('p.alert.warn', `Sans IBAN, hors du fichier : ${s.missing_iban.map((m) => `${m.name} (${m.number}, ${money(m.total)})`).join(' ; ')}. Demandez-leur de le saisir sur leur fiche, ou payez-les autrement.`)
      : null,
    transferable > 0 ? h('div.actions', file) : null,
    notice,
    rows,
    // The forms below the table, so that it stays narrow on a phone.
    unpaid.map((st) => h('details.mark-paid',
      h('summary', `Marquer payé : ${st.number} — ${orgNames[st.organization_id] || ''} (${money(st.total)})`),
      paidForm('Enregistrer le virement', async (v) => {
        await post(`/statements/${st.id}/paid`, { paid_on: v.paid_on, bank_reference: v.bank_reference });
        await redraw();
      }))),
    unpaid.length > 1
      ? h('details.mark-paid',
        h('summary', `Tout marquer payé (${plural(unpaid.length, 'relevé', 'relevés')} de cette remise)`),
        paidForm('Enregistrer la remise', async (v) => {
          for (const st of unpaid) {
            await post(`/statements/${st.id}/paid`, { paid_on: v.paid_on, bank_reference: v.bank_reference });
          }
          await redraw();
        }))
      : null);
}

/** « Virements »: the settlements with payouts, newest first, unpaid ones first. */
export function payoutsSection(names) {
  const box = h('div');
  const draw = async () => {
    const statements = await all('/statements');
    const settlements = [...new Set(statements
      .filter((st) => st.kind === 'site_payout' && st.settlement_id)
      .sort((a, b) => (a.paid_on ? 1 : 0) - (b.paid_on ? 1 : 0) || b.number.localeCompare(a.number))
      .map((st) => st.settlement_id))].slice(0, 6);
    const blocks = [];
    for (const id of settlements) {
      blocks.push(await batchBlock(id, names, draw));
    }
    clear(box).append(...(blocks.length ? blocks : [h('p', 'Aucun relevé de paiement pour l’instant.')]));
  };
  const sectionEl = section('Virements aux lieux',
    h('p.hint', 'Chaque remboursement est une remise à la banque : téléchargez son fichier de virements (SEPA, à déposer sur l’espace de la banque), puis, une fois les virements partis, marquez les relevés payés — un par un, ou toute la remise. Les lieux voient « payé le … » sur leurs relevés.'),
    box);
  sectionEl.id = 'virements';
  return { element: sectionEl, draw };
}
