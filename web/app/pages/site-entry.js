// "Ma fiche": the site's public entry in the directory (phone, website, opening
// hours, accessibility) and the account its payouts go to (IBAN, BIC). Its admins edit
// it; the API's refusals are shown on the field they name.

import { h, title, section, field, form, toast, clear } from '../dom.js';
import { get, patch } from '../api.js';
import { servicesSection } from './site-services.js';

const ENTRY = ['phone', 'website', 'opening_hours', 'accessibility', 'iban', 'bic'];

/** "0384751234" → "03 84 75 12 34"; other numbers as they are. */
export function phoneText(phone) {
  return /^0\d{9}$/.test(phone || '') ? phone.replace(/(\d\d)(?=\d)/g, '$1 ') : phone;
}

function ibanText(iban) {
  return iban && !iban.includes('…') ? iban.replace(/(.{4})(?=.)/g, '$1 ') : iban;
}

function summary(org) {
  const line = (label, value) => [h('dt', label), h('dd', value || h('span.hint', 'non renseigné'))];
  return h('dl.entry',
    line('Adresse', [org.address, `${org.postcode} ${org.city}`].filter(Boolean).join(', ')),
    line('Téléphone', phoneText(org.phone)),
    line('Site web', org.website),
    line('Horaires', org.opening_hours && h('span.pre', org.opening_hours)),
    line('Accessibilité', org.accessibility),
    line('IBAN (paiements)', ibanText(org.iban)),
    line('BIC', org.bic));
}

export async function siteEntryPage(main, { me }) {
  const org = await get(`/organizations/${me.organization.id}`);
  const shown = h('div', summary(org));
  main.append(title('Ma fiche'), section('Ce que voient les bénéficiaires et les prescripteurs', shown));
  main.append(await servicesSection(me));
  if (me.role !== 'admin') {
    main.append(h('p.alert.info', 'Seuls les administrateurs de votre lieu modifient la fiche, l’IBAN et le BIC. Le nom, l’adresse et la position sont corrigés par l’opérateur.'));
    return;
  }
  const edit = form({
    submit: 'Enregistrer la fiche',
    action: async (values) => {
      const body = {};
      // An emptied field clears it: send every field of the entry.
      for (const name of ENTRY) body[name] = values[name] ?? null;
      const updated = await patch(`/organizations/${me.organization.id}`, body);
      clear(shown);
      shown.append(summary(updated));
      toast('Fiche enregistrée.');
    },
  },
  field({ label: 'Téléphone', name: 'phone', type: 'tel', autocomplete: 'tel', value: phoneText(org.phone), hint: 'Dix chiffres, par exemple 03 84 75 12 34.' }),
  field({ label: 'Site web', name: 'website', type: 'url', autocomplete: 'url', value: org.website, hint: 'Par exemple mediatheque.vesoul.fr.' }),
  field({ label: 'Horaires d’accueil', name: 'opening_hours', type: 'textarea', value: org.opening_hours, hint: 'Une ligne par jour si vous le souhaitez (500 caractères au plus).' }),
  field({ label: 'Accessibilité', name: 'accessibility', value: org.accessibility, maxlength: 300, hint: 'Par exemple : accès de plain-pied, boucle magnétique à l’accueil.' }),
  field({ label: 'IBAN du lieu', name: 'iban', value: ibanText(org.iban), autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', hint: 'Le compte où l’opérateur verse vos paiements (FR76 …). Sa clé de contrôle est vérifiée.' }),
  field({ label: 'BIC de la banque', name: 'bic', value: org.bic, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', maxlength: 11, hint: 'Sur votre RIB, à côté de l’IBAN : 8 ou 11 caractères (par exemple AGRIFRPP), de la banque du même pays que l’IBAN.' }));
  main.append(section('Modifier la fiche',
    h('p.hint', 'Le nom, l’adresse et la position sont corrigés par l’opérateur : demandez-le-lui.'),
    edit));
}
