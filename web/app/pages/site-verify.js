// "Vérifier un chèque": tells what a ticket is worth and whether it would be
// accepted here today, without redeeming it (POST /tickets/verify).

import { h, title, field, form, clear, money, day } from '../dom.js';
import { post, ApiError } from '../api.js';
import { describeRefusal } from '../refusals.js';

const TICKET_STATUS = {
  stock: 'en stock, pas encore remis',
  issued: 'remis au bénéficiaire, pas encore utilisé',
  redeemed: 'déjà encaissé',
  settled: 'déjà encaissé et remboursé',
  cancelled: 'annulé par le prescripteur',
  expired: 'expiré',
};

/** The verdict in plain French: {tone, headline, detail}. */
export function verdict(answer) {
  if (!answer.refusal) {
    return {
      tone: 'ok',
      headline: `Chèque valable : ${money(answer.value)}`,
      detail: `Il serait accepté aujourd’hui ; il reste valable jusqu’au ${day(answer.redeemable_until)} (dispositif ${answer.program?.name ?? ''}). Rien n’a été encaissé.`,
    };
  }
  const refusal = describeRefusal(answer.refusal, {});
  const status = TICKET_STATUS[answer.status] || answer.status;
  // The verification does not say which site redeemed it: no "by another site" here.
  const why = answer.refusal === 'already_redeemed'
    ? 'Ce chèque a déjà été encaissé : il ne peut servir qu’une fois.'
    : (refusal?.detail ?? '');
  return {
    tone: 'bad',
    headline: refusal ? refusal.headline.replace(/^Refusé/, 'Serait refusé') : 'Serait refusé',
    detail: `${why} État du chèque : ${status}. Cette vérification n’a rien changé.`.trim(),
  };
}

export function siteVerifyPage(main) {
  const result = h('div.result', { id: 'verify-result', role: 'status', 'aria-live': 'assertive', 'aria-atomic': 'true', hidden: true });
  const show = (d) => {
    clear(result);
    result.className = `result ${d.tone}`;
    result.append(h('p.headline', d.headline), h('p', d.detail));
    result.hidden = false;
    result.scrollIntoView({ block: 'nearest' });
  };
  const typed = form({
    submit: 'Vérifier',
    action: async (values) => {
      const serial = (values.serial || '').toUpperCase().replace(/\s+/g, '');
      try {
        show(verdict(await post('/tickets/verify', { serial })));
      } catch (err) {
        const refusal = err instanceof ApiError ? describeRefusal(err.problem?.code, err.problem) : null;
        if (!refusal) throw err;
        show({ tone: 'bad', headline: refusal.headline.replace(/^Refusé/, 'Serait refusé'), detail: refusal.detail });
      }
    },
  }, field({
    label: 'Numéro du chèque',
    name: 'serial',
    required: true,
    hint: 'Les 11 caractères imprimés sous le QR code, par exemple 7K3M-9QX2-ZAT.',
    autocomplete: 'off',
    autocapitalize: 'characters',
    spellcheck: 'false',
    maxlength: 20,
  }));
  main.append(
    title('Vérifier un chèque'),
    h('p', 'Savoir ce que vaut un chèque et s’il serait accepté aujourd’hui, sans l’encaisser.'),
    h('section.card', typed),
    result,
    h('p', h('a.button.secondary', { href: '/site' }, 'Retour à l’encaissement')),
  );
}
