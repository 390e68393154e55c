// The directory of labelled sites: near a postcode or the device's position.

import { h, title, field, form, clear } from '../dom.js';
import { get, ApiError } from '../api.js';
import { durationText } from './site-services.js';

const km = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 });
const PAGE = 20;

/** "0384751234" → "03 84 75 12 34"; other numbers as they are. */
function phoneText(phone) {
  return /^0\d{9}$/.test(phone) ? phone.replace(/(\d\d)(?=\d)/g, '$1 ') : phone;
}

function siteCard(site) {
  const where = [site.address, `${site.postcode} ${site.city}`].filter(Boolean).join(', ');
  const distance = site.distance_km !== undefined && site.distance_km !== null
    ? h('p.distance', site.distance_approximate
      ? `À environ ${km.format(site.distance_km)} km (d’après le code postal)`
      : `À ${km.format(site.distance_km)} km`)
    : null;
  const detail = (label, value) => [h('dt', label), h('dd', value)];
  const details = [
    site.phone ? detail('Téléphone', h('a', { href: `tel:${site.phone}` }, phoneText(site.phone))) : null,
    site.opening_hours ? detail('Horaires', h('span.pre', site.opening_hours)) : null,
    site.accessibility ? detail('Accessibilité', site.accessibility) : null,
    site.website ? detail('Site web', h('a', { href: site.website, rel: 'noopener noreferrer', target: '_blank' }, site.website.replace(/^https?:\/\//, ''))) : null,
  ].filter(Boolean);
  return h('li.site',
    h('h3', site.name),
    h('p', where),
    distance,
    servicesList(site.services),
    details.length ? h('dl.entry', details) : null);
}

/** What a site offers: one line per service (title, theme, format, duration). */
function servicesList(services) {
  if (!services?.length) return null;
  return h('div.site-services',
    h('p.services-heading', 'Services proposés'),
    h('ul.services', services.map((s) => h('li', { dataset: { theme: s.theme } },
      h('strong', s.title), ` — ${s.theme_label}, ${s.format === 'collective' ? 'en groupe' : 'individuel'}, ${durationText(s.duration_minutes)}`))));
}

/** The theme filter of the directory: every theme of the national list. */
function themeFilter() {
  const select = field({ label: 'Thème recherché', name: 'theme', options: [['', 'Tous les thèmes']], hint: 'Pour ne voir que les lieux qui proposent un atelier sur ce thème.' });
  get('/public/themes', { auth: false }).then((themes) => {
    const control = select.querySelector('select');
    for (const t of themes) control.append(h('option', { value: t.id }, t.label));
  }).catch(() => {});
  return select;
}

async function search(params, cursor) {
  const query = { ...params, limit: String(PAGE) };
  if (cursor) query.cursor = cursor;
  return get(`/public/sites?${new URLSearchParams(query)}`, { auth: false });
}

/** The search form and its results; used by the public page and the prescribers'. */
export function sitesFinder({ intro } = {}) {
  const results = h('div.results', { 'aria-live': 'polite' });
  const themes = themeFilter();
  /** The search's parameters with the theme chosen, if any. */
  const withTheme = (params) => {
    const theme = themes.querySelector('select').value;
    return theme ? { ...params, theme } : params;
  };
  /** Shows a first page; "Voir plus" appends the next ones. */
  const show = (heading, page, params, empty) => {
    clear(results);
    results.append(h('h2', heading));
    if (!page.items.length) {
      results.append(h('p.empty', empty));
      return;
    }
    const list = h('ul.sites', page.items.map(siteCard));
    const count = h('p.hint', { role: 'status' });
    const more = h('button.secondary', { type: 'button' }, 'Voir plus de lieux');
    let cursor = page.next_cursor;
    let shown = page.items.length;
    const update = () => {
      more.hidden = !cursor;
      count.textContent = cursor ? `${shown} lieux affichés.` : `${shown} lieu${shown > 1 ? 'x' : ''} en tout.`;
    };
    more.addEventListener('click', async () => {
      more.disabled = true;
      try {
        const next = await search(params, cursor);
        list.append(...next.items.map(siteCard));
        shown += next.items.length;
        cursor = next.next_cursor;
        update();
        list.children[shown - next.items.length]?.querySelector('h3')?.setAttribute('tabindex', '-1');
        list.children[shown - next.items.length]?.querySelector('h3')?.focus();
      } catch (err) {
        count.textContent = err.message;
      } finally {
        more.disabled = false;
      }
    });
    update();
    results.append(list, count, more);
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
      const page = await search(withTheme({ postcode }));
      if (page.items.length || postcode.length <= 2) {
        show(postcode.length <= 3 ? `Lieux labellisés dans le département ${postcode}` : `Lieux labellisés au ${postcode}`, page, withTheme({ postcode }), 'Aucun lieu labellisé trouvé.');
        return;
      }
      // No site in that town: the département's.
      const dept = postcode.startsWith('97') ? postcode.slice(0, 3) : postcode.slice(0, 2);
      const wider = await search(withTheme({ postcode: dept }));
      show(`Aucun lieu au ${postcode} — lieux du département ${dept}`, wider, withTheme({ postcode: dept }), 'Aucun lieu labellisé dans ce département.');
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
          const params = withTheme({ near, radius_km: '30' });
          const page = await search(params);
          status.textContent = '';
          show('Lieux labellisés à moins de 30 km', page, params, 'Aucun lieu labellisé à moins de 30 km.');
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
    h('section.card', themes, byPostcode, h('div.or', h('span', 'ou')), nearMe, status),
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
