// A site's statements ("Relevés"): every payout statement, with its CSV and PDF.

import { h, title, section } from '../dom.js';
import { all } from '../api.js';
import { statementsTable } from './funder.js';

export async function siteStatementsPage(main, { me }) {
  const statements = await all(`/statements?organization_id=${me.organization.id}`);
  main.append(
    title('Mes relevés'),
    section('Relevés de paiement',
      h('p.hint', 'Chaque mois réglé donne un relevé : les chèques encaissés et le montant versé à votre lieu. Le CSV s’ouvre dans Excel ; le PDF est à garder avec vos justificatifs.'),
      h('p.hint', h('a', { href: '/site/historique' }, 'Voir mes encaissements mois par mois'), ' (dont ce qui reste à régler).'),
      statementsTable(statements)),
  );
}
