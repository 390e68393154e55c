// The operator's books (« Comptabilité »): the trial balance of the ledger, and the
// year's FEC (fichier des écritures comptables) to download for the accountant.

import { h, title, clear, money, table, section, parisToday } from '../dom.js';
import { get, download, SessionExpired } from '../api.js';

export async function ledgerPage(main, { me }) {
  const trial = await get('/ledger/trial-balance');
  const year = Number(String(parisToday()).slice(0, 4));
  const admin = me?.role === 'admin';
  const notice = h('div', { role: 'status', 'aria-live': 'polite' });
  const select = h('select', { id: 'fec-year', name: 'year' },
    [year, year - 1, year - 2].map((y) => h('option', { value: String(y) }, String(y))));
  const button = h('button', {
    type: 'button',
    onclick: async () => {
      button.disabled = true;
      clear(notice);
      try {
        await download(`/ledger/fec?year=${select.value}`, null);
        notice.append(h('p.alert.ok', `FEC ${select.value} téléchargé.`));
      } catch (err) {
        if (!(err instanceof SessionExpired)) notice.append(h('p.alert.bad', { role: 'alert' }, err.message));
      } finally {
        button.disabled = false;
      }
    },
  }, 'Télécharger le FEC');
  main.append(
    title('Comptabilité'),
    section('Fichier des écritures comptables (FEC)',
      h('p.hint', 'Toutes les écritures de l’année, une ligne par mouvement, au format de l’administration fiscale (article A47 A-1 du LPF), à remettre à votre expert-comptable. Les comptes suivent le plan comptable général ; chaque financeur et chaque lieu a son compte auxiliaire.'),
      admin
        ? h('div.row', h('label', { for: 'fec-year' }, 'Année '), select, ' ', button)
        : h('p.alert.info', 'Le FEC est réservé aux administrateurs de l’opérateur.'),
      notice),
    section('Balance',
      h('p', `Total des débits : ${money(trial.total_debits)} — total des crédits : ${money(String(trial.total_credits).replace('-', ''))} — solde : ${money(trial.total)}.`),
      h('p.hint', 'Chaque compte du service avec son compte du plan comptable général, tel que le FEC l’écrit.'),
      table([
        { label: 'Compte', cell: (a) => a.name },
        { label: 'Plan comptable', cell: (a) => `${a.pcg_account} ${a.pcg_label}` },
        { label: 'Débit', cell: (a) => (Number(a.balance) > 0 ? money(a.balance) : '—'), class: 'num' },
        { label: 'Crédit', cell: (a) => (Number(a.balance) < 0 ? money(String(a.balance).replace('-', '')) : '—'), class: 'num' },
      ], trial.accounts.filter((a) => Number(a.balance) !== 0), { caption: 'Comptes non soldés', empty: 'Aucun mouvement pour l’instant.' })),
  );
}
