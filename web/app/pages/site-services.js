// A site's services ("Ma fiche", Services proposés): what a ticket pays for. Its
// admins edit the list (title, theme of the national list, format, duration); a
// service kept keeps its id, so the redemptions that named it still point to it.
// The API's refusals land on the field they name (`[2].duration_minutes`).

import { h, section, field, form, toast, clear } from '../dom.js';
import { get, api } from '../api.js';

export const FORMATS = [['individual', 'Individuel'], ['collective', 'Collectif (en groupe)']];

/** "90" → "1 h 30"; "45" → "45 min". */
export function durationText(minutes) {
  const m = Number(minutes);
  if (!Number.isFinite(m) || m <= 0) return '';
  if (m < 60) return `${m} min`;
  const rest = m % 60;
  return rest ? `${Math.floor(m / 60)} h ${String(rest).padStart(2, '0')}` : `${m / 60} h`;
}

/** One line of a service, as the site's pages and the directory show it. */
export function serviceLine(s) {
  const format = s.format === 'collective' ? 'collectif' : 'individuel';
  return `${s.title} — ${s.theme_label}, ${format}, ${durationText(s.duration_minutes)}`;
}

function serviceRow(index, service, themes, onRemove) {
  const row = h('fieldset.service-row', { dataset: { id: service?.id || '' } },
    h('legend', `Service ${index + 1}`),
    field({ label: 'Intitulé', name: `[${index}].title`, required: true, maxlength: 120, value: service?.title, hint: 'Par exemple : Prendre en main son smartphone.' }),
    field({ label: 'Thème', name: `[${index}].theme`, options: themes.map((t) => [t.id, t.label]), value: service?.theme }),
    field({ label: 'Format', name: `[${index}].format`, options: FORMATS, value: service?.format || 'individual' }),
    field({ label: 'Durée (minutes)', name: `[${index}].duration_minutes`, type: 'number', inputmode: 'numeric', min: 1, max: 600, required: true, value: service?.duration_minutes ?? 60 }),
    h('button.link', { type: 'button', onclick: () => onRemove(row) }, 'Retirer ce service'));
  return row;
}

/** The section of "Ma fiche" that lists, and for admins edits, the site's services. */
export async function servicesSection(me) {
  const siteId = me.organization.id;
  const [themes, services] = await Promise.all([
    get('/public/themes', { auth: false }),
    get(`/sites/${siteId}/services`),
  ]);
  const shown = h('div');
  const drawList = (list) => {
    clear(shown);
    shown.append(list.length
      ? h('ul.services', list.map((s) => h('li', serviceLine(s))))
      : h('p.empty', 'Aucun service publié : l’annuaire n’affiche pas encore ce que vous proposez.'));
  };
  drawList(services);
  if (me.role !== 'admin') {
    return section('Services proposés', shown, h('p.hint', 'Seuls les administrateurs du lieu modifient cette liste.'));
  }
  const rows = h('div.service-rows');
  let current = services;
  const renumber = () => {
    [...rows.children].forEach((row, i) => {
      row.querySelector('legend').textContent = `Service ${i + 1}`;
      for (const control of row.querySelectorAll('[name]')) {
        control.name = control.name.replace(/^\[\d+\]/, `[${i}]`);
      }
    });
  };
  const remove = (row) => {
    row.remove();
    renumber();
  };
  const drawRows = (list) => {
    clear(rows);
    list.forEach((s, i) => rows.append(serviceRow(i, s, themes, remove)));
  };
  drawRows(current);
  const add = h('button.secondary', {
    type: 'button',
    onclick: () => {
      const row = serviceRow(rows.children.length, null, themes, remove);
      rows.append(row);
      row.querySelector('input')?.focus();
    },
  }, 'Ajouter un service');
  const edit = form({
    submit: 'Enregistrer les services',
    extra: add,
    action: async () => {
      const body = [...rows.children].map((row, i) => {
        const value = (name) => row.querySelector(`[name="[${i}].${name}"]`).value.trim();
        const item = {
          title: value('title'),
          theme: value('theme'),
          format: value('format'),
          duration_minutes: Number(value('duration_minutes')),
        };
        if (row.dataset.id) item.id = row.dataset.id;
        return item;
      });
      current = await api('PUT', `/sites/${siteId}/services`, { body });
      drawList(current);
      drawRows(current);
      toast('Services enregistrés.');
    },
  }, rows);
  return section('Services proposés',
    h('p.hint', 'Ce que vos ateliers et accompagnements proposent : l’annuaire les affiche, et vos agents choisissent le service au moment du scan. Un service retiré reste lié aux chèques déjà encaissés.'),
    shown,
    h('h3', 'Modifier la liste'),
    edit);
}
