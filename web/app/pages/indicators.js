// Open data, for anyone, without an account: the programs whose indicators the
// operator published (`/indicateurs`, `GET /public/programs`), and one program's
// indicators (`/indicateurs/{id}`): the figures its funders see
// (`GET /public/programs/{id}/indicators`) as charts with their tables, and the JSON
// and the CSV for open-data portals.

import { h, title, section } from '../dom.js';
import { get, ApiError } from '../api.js';
import { statsView } from '../stats.js';

export async function publishedProgramsPage(main) {
  const list = await get('/public/programs', { auth: false });
  main.append(title('Indicateurs du Pass Numérique'),
    h('p', 'Ce que chaque dispositif a permis, publié en données ouvertes : chéquiers remis, chèques utilisés, et pour qui. Aucune donnée personnelle.'),
    list.items.length
      ? h('ul.programs', list.items.map((p) => h('li', h('a', { href: `/indicateurs/${p.id}` }, p.name))))
      : h('p.empty', 'Aucun dispositif n’a encore publié ses indicateurs.'));
}

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
      h('p', h('a', { href: '/indicateurs' }, 'Les indicateurs publiés')));
    return;
  }
  const api = `${window.location.origin}/api/v1${path}`;
  main.append(
    h('p.back', h('a', { href: '/indicateurs' }, '← Indicateurs publiés')),
    title(`Indicateurs : ${stats.program_name}`),
    h('p', 'Ce que le Pass Numérique de ce dispositif a permis : chéquiers remis, chèques utilisés, et pour qui. Aucune donnée personnelle : les groupes de moins de 5 personnes ne sont pas chiffrés.'),
    section('Données ouvertes',
      h('ul.open-data',
        h('li', 'JSON : ', h('a', { href: api }, api)),
        h('li', 'CSV : ', h('a', { href: `${api}?format=csv` }, `${api}?format=csv`)))),
    section('Usage', statsView(stats, { csv: false })),
  );
}
