// The directory of labelled sites: near a postcode or the device's position.

import { h, title, field, form, clear } from '../dom.js';
import { get, ApiError } from '../api.js';

function siteCard(site) {
  const where = [site.address, `${site.postcode} ${site.city}`].filter(Boolean).join(', ');
  return h('li.site',
    h('h3', site.name),
    h('p', where),
    site.distance_km !== undefined && site.distance_km !== null
      ? h('p.distance', `À ${new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 }).format(site.distance_km)} km`)
      : null);
}

async function search(params) {
  return get(`/public/sites?${new URLSearchParams({ ...params, limit: '20' })}`, { auth: false });
}

/** The search form and its results; used by the public page and the prescribers'. */
export function sitesFinder({ intro } = {}) {
  const results = h('div.results', { 'aria-live': 'polite' });
  const show = (heading, items, empty) => {
    clear(results);
    results.append(h('h2', heading));
    if (!items.length) results.append(h('p.empty', empty));
    else results.append(h('ul.sites', items.map(siteCard)));
  };
  const byPostcode = form({
    label: 'Chercher par code postal',
    submit: 'Chercher',
    class: 'inline',
    action: async (values) => {
      const postcode = (values.postcode || '').replace(/\s/g, '');
      if (!/^\d{2,5}$/.test(postcode)) {
        throw new ApiError(422, { code: 'validation_failed', field: 'postcode', detail: 'Saisissez un code postal (5 chiffres) ou un numéro de département (2 chiffres).' });
      }
      const page = await search({ postcode });
      if (page.items.length || postcode.length <= 2) {
        show(postcode.length <= 3 ? `Lieux labellisés dans le département ${postcode}` : `Lieux labellisés au ${postcode}`, page.items, 'Aucun lieu labellisé trouvé.');
        return;
      }
      // No site in that town: the département's.
      const dept = postcode.startsWith('97') ? postcode.slice(0, 3) : postcode.slice(0, 2);
      const wider = await search({ postcode: dept });
      show(`Aucun lieu au ${postcode} — lieux du département ${dept}`, wider.items, 'Aucun lieu labellisé dans ce département.');
    },
  }, field({ label: 'Code postal', name: 'postcode', required: true, inputmode: 'numeric', autocomplete: 'postal-code', maxlength: 5, hint: 'Ou les 2 chiffres du département.' }));
  const status = h('p.hint', { role: 'status' });
  const nearMe = h('button.secondary', {
    type: 'button',
    onclick: () => {
      if (!navigator.geolocation) {
        status.textContent = 'Cet appareil ne donne pas sa position : cherchez par code postal.';
        return;
      }
      status.textContent = 'Recherche de votre position…';
      navigator.geolocation.getCurrentPosition(async (pos) => {
        try {
          const near = `${pos.coords.latitude.toFixed(5)},${pos.coords.longitude.toFixed(5)}`;
          const page = await search({ near, radius_km: '30' });
          status.textContent = '';
          show('Lieux labellisés à moins de 30 km', page.items, 'Aucun lieu labellisé à moins de 30 km.');
        } catch (err) {
          status.textContent = err.message;
        }
      }, () => {
        status.textContent = 'Position indisponible (refusée ou introuvable) : cherchez par code postal.';
      }, { timeout: 10000, maximumAge: 600000 });
    },
  }, 'Autour de moi');
  return h('div.finder',
    intro ? h('p', intro) : null,
    h('section.card', byPostcode, h('div.or', h('span', 'ou')), nearMe, status),
    results);
}

export function publicSitesPage(main) {
  main.append(
    title('Où utiliser ses chèques Pass Numérique'),
    sitesFinder({ intro: 'Les lieux labellisés (médiathèques, centres sociaux, associations…) accueillent les détenteurs de chèques Pass Numérique pour des ateliers ou un accompagnement au numérique.' }),
  );
}

export function prescriberSitesPage(main) {
  main.append(
    title('Lieux proches d’un bénéficiaire'),
    sitesFinder({ intro: 'Indiquez au bénéficiaire où utiliser ses chèques : cherchez par son code postal.' }),
  );
}
