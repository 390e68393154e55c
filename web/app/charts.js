// Bar charts: one row per item, its label and value as text (read by everyone,
// wrapping on a phone) and its bar as a small inline SVG scaled to the row's width.

import { h, s } from './dom.js';

const fmt = new Intl.NumberFormat('fr-FR');

/**
 * rows: [{label, value, text?, tone?}] — value a number, text what is written
 * (default the number). max: the 100 % of the bars (default the largest value).
 */
export function bars({ heading, rows, max, caption, unit = '' }) {
  const top = max ?? Math.max(1, ...rows.map((r) => r.value));
  return h('figure.chart-box',
    h('figcaption', h('h3', heading), caption ? h('p.hint', caption) : null),
    rows.length
      ? h('ul.bars', rows.map((r) => {
        const pct = top > 0 ? Math.max(r.value > 0 ? 0.5 : 0, Math.min(100, (r.value / top) * 100)) : 0;
        return h(`li.bar-row${r.tone ? `.${r.tone}` : ''}`,
          h('span.bar-label', r.label),
          h('span.bar-track',
            s('svg', { class: 'bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
              s('rect', { x: 0, y: 0, width: pct.toFixed(2), height: 10, rx: 1 }))),
          h('span.bar-value', r.text ?? `${fmt.format(r.value)}${unit}`));
      }))
      : h('p.empty', 'Pas encore de données.'));
}
