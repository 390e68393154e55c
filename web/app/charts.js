// Horizontal bar charts in inline SVG, with the numbers in a table beside them (the
// chart is for the eye, the table for everyone). Responsive: the SVG scales.

import { h, s, nextId } from './dom.js';

const fmt = new Intl.NumberFormat('fr-FR');

/**
 * rows: [{label, value, text?}] — value a number, text what is written (default the
 * number). max: the 100 % of the bars (default the largest value). tone: css class.
 */
export function bars({ heading, rows, max, caption, unit = '' }) {
  const id = nextId('chart');
  const top = max ?? Math.max(1, ...rows.map((r) => r.value));
  const rowH = 34;
  const labelW = 190;
  const width = 640;
  const barW = width - labelW - 90;
  const height = rows.length * rowH + 8;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${id}-t`, class: 'chart', preserveAspectRatio: 'xMinYMin meet' },
    s('title', { id: `${id}-t` }, heading),
    rows.map((r, i) => {
      const y = i * rowH + 4;
      const w = top > 0 ? Math.max(r.value > 0 ? 2 : 0, Math.round((r.value / top) * barW)) : 0;
      const label = r.label.length > 26 ? `${r.label.slice(0, 25)}…` : r.label;
      return s('g', { class: `bar ${r.tone || ''}` },
        s('text', { x: labelW - 8, y: y + rowH / 2 + 1, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'label' }, label),
        s('rect', { x: labelW, y: y + 5, width: w, height: rowH - 12, rx: 3 }),
        s('text', { x: labelW + w + 6, y: y + rowH / 2 + 1, 'dominant-baseline': 'middle', class: 'value' }, r.text ?? `${fmt.format(r.value)}${unit}`));
    }));
  return h('figure.chart-box',
    h('figcaption', h('h3', heading), caption ? h('p.hint', caption) : null),
    rows.length ? svg : h('p.empty', 'Pas encore de données.'),
  );
}
