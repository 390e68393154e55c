// The open indicators of a program (`/indicateurs/{id}`), for anyone, without an
// account: the figures its funders see (`GET /public/programs/{id}/indicators`), as
// charts with their tables, once the operator has published them; the JSON and the
// CSV for open-data portals.

import { h, title, section } from '../dom.js';
import { get, ApiError } from '../api.js';
import { statsView } from '../stats.js';

export async function publicIndicatorsPage(main, { args }) {
  const [id] = args;
  const path = `/public/programs/${id}/indicators`;
  let stats;
  try {
    stats = await get(path, { auth: false });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    main.append(title('Indicateurs non publiés'),
      h('p', 'Les indicateurs de ce dispositif ne sont pas publics (ou ce dispositif n’existe pas).'),
      h('p', h('a', { href: '/lieux' }, 'Trouver un lieu de formation')));
    return;
  }
  const api = `${window.location.origin}/api/v1${path}`;
  main.append(
    title(`Indicateurs : ${stats.program_name}`),
    h('p', 'Ce que le Pass Numérique de ce dispositif a permis : chéquiers remis, chèques utilisés, et pour qui. Aucune donnée personnelle : les groupes de moins de 5 personnes ne sont pas chiffrés.'),
    section('Données ouvertes',
      h('ul.open-data',
        h('li', 'JSON : ', h('a', { href: api }, api)),
        h('li', 'CSV : ', h('a', { href: `${api}?format=csv` }, `${api}?format=csv`)))),
    section('Usage', statsView(stats, { csv: false })),
  );
}
