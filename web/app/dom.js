// Small DOM helpers and French formatting. No framework: h() builds elements.

/** h('button.primary', {onclick}, 'Texte') — tag with optional #id and .classes. */
export function h(spec, attrs, ...children) {
  if (attrs === null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
    if (attrs !== undefined) children.unshift(attrs);
    attrs = {};
  }
  const [, tag = 'div', rest = ''] = spec.match(/^([a-z0-9-]*)(.*)$/i);
  const el = tag === 'svg' || attrs.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag || 'div');
  for (const part of rest.match(/[#.][^#.]+/g) || []) {
    if (part[0] === '#') el.id = part.slice(1);
    else el.classList.add(part.slice(1));
  }
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false || key === 'svg') continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.classList.add(...String(value).split(/\s+/).filter(Boolean));
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && !(el instanceof SVGElement) && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** An SVG element (charts). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
/** A unique id for label/for pairs. */
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * A labelled form field. opts: {label, name, type, required, value, hint, options,
 * autocomplete, inputmode, min, max, step, placeholder, pattern}
 */
export function field(opts) {
  const id = nextId(opts.name.replace(/[^a-z0-9]/gi, '-'));
  const hintId = opts.hint ? `${id}-hint` : undefined;
  const errId = `${id}-err`;
  let control;
  const common = {
    id,
    name: opts.name,
    required: opts.required || undefined,
    'aria-describedby': [hintId, errId].filter(Boolean).join(' '),
    autocomplete: opts.autocomplete,
  };
  if (opts.options) {
    control = h('select', common,
      opts.options.map(([value, text]) => h('option', { value, selected: String(value) === String(opts.value ?? '') || undefined }, text)));
  } else if (opts.type === 'textarea') {
    control = h('textarea', { ...common, rows: 3 }, opts.value ?? '');
  } else {
    control = h('input', {
      ...common,
      type: opts.type || 'text',
      value: opts.value ?? '',
      inputmode: opts.inputmode,
      min: opts.min, max: opts.max, step: opts.step,
      placeholder: opts.placeholder,
      pattern: opts.pattern,
      maxlength: opts.maxlength,
      autocapitalize: opts.autocapitalize,
      spellcheck: opts.spellcheck,
    });
  }
  if (opts.type === 'checkbox') {
    control.checked = Boolean(opts.value);
    control.value = 'on';
    return h('div.field.check', control, h('label', { for: id }, opts.label),
      opts.hint && h('p.hint', { id: hintId }, opts.hint), h('p.field-error', { id: errId }));
  }
  return h('div.field',
    h('label', { for: id }, opts.label, opts.required || (opts.options && opts.options[0]?.[0] !== '') ? '' : h('span.optional', ' (facultatif)')),
    opts.hint && h('p.hint', { id: hintId }, opts.hint),
    control,
    h('p.field-error', { id: errId }));
}

/** The values of a form's named controls, as a flat {name: value} (empty → absent). */
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.value.trim() !== '') out[el.name] = el.value.trim();
  }
  return out;
}

/** Shows a problem on a form: its detail at the top, its field marked when named. */
export function showFormError(form, err) {
  clearFormErrors(form);
  const box = form.querySelector('.form-error');
  const message = err?.message || String(err);
  if (box) {
    box.textContent = message;
    box.hidden = false;
  }
  const name = err?.problem?.field;
  if (name) {
    const control = [...form.elements].find((el) => el.name && (el.name === name || name.startsWith(`${el.name}[`) || name.startsWith(`${el.name}.`)));
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      const msg = document.getElementById(`${control.id}-err`);
      if (msg) msg.textContent = err.problem.detail;
      control.focus();
      return;
    }
  }
  box?.focus();
}

export function clearFormErrors(form) {
  const box = form.querySelector('.form-error');
  if (box) { box.hidden = true; box.textContent = ''; }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
}

/**
 * A form whose submit runs `action(values, form)`; errors are shown on the form, the
 * button is disabled while it runs. Returns the <form>.
 */
export function form(opts, ...children) {
  const button = h('button.primary', { type: 'submit' }, opts.submit || 'Enregistrer');
  const el = h('form', { class: opts.class, novalidate: true },
    h('p.form-error', { role: 'alert', tabindex: '-1', hidden: true }),
    children,
    h('div.actions', button, opts.extra));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(el);
    const missing = [...el.elements].find((c) => c.required && !c.value.trim());
    if (missing) {
      showFormError(el, { message: 'Un champ obligatoire est vide.', problem: { field: missing.name, detail: 'Ce champ est obligatoire.' } });
      return;
    }
    button.disabled = true;
    el.setAttribute('aria-busy', 'true');
    try {
      await opts.action(formValues(el), el);
    } catch (err) {
      if (err?.name === 'SessionExpired') return;
      showFormError(el, err);
    } finally {
      button.disabled = false;
      el.removeAttribute('aria-busy');
    }
  });
  return el;
}

const euro = new Intl.NumberFormat('fr-FR', { style: 'currency', currency: 'EUR' });
/** "1 234,50 €" from the API's "1234.50". */
export function money(value) {
  if (value === null || value === undefined || value === '') return '—';
  return euro.format(Number(value));
}

const dayFmt = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', day: '2-digit', month: '2-digit', year: 'numeric' });
const timeFmt = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' });
const monthFmt = new Intl.DateTimeFormat('fr-FR', { timeZone: 'UTC', month: 'short', year: 'numeric' });

/** "23/11/2026" from a date or an instant. */
export function day(value) {
  if (!value) return '—';
  const d = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T12:00:00Z`) : new Date(value);
  return dayFmt.format(d);
}

/** "14:32" (Paris time). */
export function time(value) {
  return value ? timeFmt.format(new Date(value)) : '—';
}

/** "23/11/2026 à 14:32". */
export function dateTime(value) {
  return value ? `${day(value)} à ${time(value)}` : '—';
}

/** "nov. 2026" from "2026-11". */
export function month(value) {
  return monthFmt.format(new Date(`${value}-01T00:00:00Z`));
}

/** Today's date in Paris, YYYY-MM-DD. */
export function parisToday() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Paris' }).format(new Date());
}

/** "0.6000" → "60 %". */
export function percent(value) {
  if (value === null || value === undefined) return '—';
  return `${new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 2 }).format(Number(value) * 100)} %`;
}

/** "60" or "60,5" (percent typed by a person) → "0.6050"; null when not a number. */
export function percentToRate(text) {
  if (text === undefined || text === null || String(text).trim() === '') return null;
  const n = Number(String(text).replace(',', '.').replace(/\s|%/g, ''));
  if (!Number.isFinite(n)) return null;
  return (n / 100).toFixed(4);
}

/** "30 000,5" (typed) → "30000.50"; the raw text when it is not a number (the API says why). */
export function moneyInput(text) {
  if (text === undefined) return undefined;
  const cleaned = String(text).replace(/[\s\u202f\u00a0€]/g, '').replace(',', '.');
  return /^\d+(\.\d{1,2})?$/.test(cleaned) ? Number(cleaned).toFixed(2) : cleaned;
}

/** A random UUID (idempotency keys), also where crypto.randomUUID is missing. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * A short message, read by screen readers (the #toast element is a polite live
 * region). Shown over the page at its bottom, or at its top, wherever it hides no
 * button, link or field; where both would, it is shown in the page's flow under the
 * header instead of over anything. Placed again while the page scrolls or resizes.
 */
export function toast(message) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.classList.add('show');
  placeToast(el);
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    el.classList.remove('show');
    el.textContent = '';
    removeEventListener('scroll', toast.replace);
    removeEventListener('resize', toast.replace);
  }, 6000);
  if (!toast.replace) {
    let pending = false;
    toast.replace = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        // Once in the flow, it stays there: the page must not jump while it scrolls.
        if (el.classList.contains('show') && el.dataset.place !== 'inline') placeToast(el);
      });
    };
  }
  addEventListener('scroll', toast.replace, { passive: true });
  addEventListener('resize', toast.replace, { passive: true });
}

const ACTIONS = 'button, a[href], input:not([type="hidden"]), select, textarea, summary';

/** Whether a box drawn at `rect` would lie over a visible action of the page. */
function coversAction(el, rect) {
  for (const a of document.querySelectorAll(ACTIONS)) {
    if (el.contains(a)) continue;
    const r = a.getBoundingClientRect();
    if (!r.width || !r.height || r.bottom <= 0 || r.top >= innerHeight) continue;
    if (r.left < rect.right && r.right > rect.left && r.top < rect.bottom && r.bottom > rect.top) return true;
  }
  return false;
}

function placeToast(el) {
  for (const where of ['bottom', 'top']) {
    el.dataset.place = where;
    if (!coversAction(el, el.getBoundingClientRect())) return;
  }
  el.dataset.place = 'inline';
}

/**
 * A table: columns [{label, cell(row) → node|text, class}]. On a phone (narrow
 * screen) each row is drawn as a card, each cell under its column's label (style.css,
 * `table.cards`); the explicit roles keep it a table for screen readers.
 */
export function table(columns, rows, { caption, empty = 'Rien pour l’instant.' } = {}) {
  if (!rows.length) return h('p.empty', empty);
  const label = (c) => (c.label ? h('span.cell-label', { 'aria-hidden': 'true' }, c.label) : null);
  return h('div.table-wrap', { tabindex: '0', role: 'region', 'aria-label': caption || 'Tableau' },
    h('table.cards', { role: 'table' },
      caption && h('caption', caption),
      h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, columns.map((c) => h('th', { scope: 'col', role: 'columnheader', class: c.class }, c.label)))),
      h('tbody', { role: 'rowgroup' }, rows.map((row) => h('tr', { role: 'row' }, columns.map((c, i) => (i === 0
        ? h('th', { scope: 'row', role: 'rowheader', class: c.class }, label(c), h('span.cell-value', c.cell(row)))
        : h('td', { role: 'cell', class: c.class }, label(c), h('span.cell-value', c.cell(row))))))))));
}

/** A heading with the page title set. */
export function title(text) {
  document.title = `${text} — Pass Numérique`;
  return h('h1', text);
}

export function section(heading, ...children) {
  return h('section.card', h('h2', heading), children);
}

/** An e-mail address that wraps, on a narrow phone, before its "@" rather than inside a word. */
export function email(address) {
  const at = address.indexOf('@');
  return at > 0 ? [address.slice(0, at), h('wbr'), address.slice(at)] : address;
}

/** A status pill. tone: ok, warn, bad, info. */
export function pill(text, tone = 'info') {
  return h(`span.pill.${tone}`, text);
}
