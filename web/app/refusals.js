// The refusals of a scan, in plain French: one entry per code of the API's
// `Refusal` enum (openapi/openapi.json, components.schemas.Refusal), no more, no
// less — a Rust test (tests/api/verdicts.rs) reads this file's keys and compares them
// with the enum, so a code added on one side only fails the build's tests.
// Each entry gives the big answer's headline and its detail; `detail` receives the
// problem+json of the refusal (for `already_redeemed`: when, and by whom).

import { dateTime } from './dom.js';
import { TICKET_CANCELLED } from './terms.js';

export const REFUSALS = {
  already_redeemed: {
    headline: 'Refusé : chèque déjà encaissé',
    detail: (problem) => {
      const when = problem?.redeemed_at ? dateTime(problem.redeemed_at) : '';
      const by = problem?.by_your_site ? 'par votre lieu' : 'par un autre lieu';
      return `Ce chèque a déjà été encaissé ${by}${when ? ` le ${when}` : ''}. Il ne peut servir qu’une fois.`;
    },
  },
  not_handed_out: {
    headline: 'Refusé : chèque pas encore remis',
    detail: () => 'Ce chèque vient d’un chéquier en stock, pas encore remis à un bénéficiaire. Le prescripteur doit d’abord le remettre.',
  },
  ticket_expired: {
    headline: 'Refusé : chèque expiré',
    detail: () => 'La date de validité de ce chèque est passée.',
  },
  ticket_cancelled: {
    // A ticket its prescriber cancelled, never to be confused with an undone scan.
    headline: `Refusé : ${TICKET_CANCELLED.toLowerCase()} par le prescripteur`,
    detail: () => 'Son prescripteur a annulé ce chèque (chéquier perdu ou volé) : il ne peut plus servir. Orientez la personne vers son prescripteur.',
  },
  invalid_code: {
    headline: 'Refusé : ce n’est pas un chèque valide',
    detail: () => 'Ce code n’est pas celui d’un chèque Pass Numérique. Vérifiez le numéro saisi, caractère par caractère.',
  },
  label_inactive: {
    headline: 'Refusé : label suspendu ou échu',
    detail: () => 'Le label de votre lieu n’est pas actif : vous ne pouvez pas encaisser de chèque. Contactez l’opérateur du dispositif.',
  },
  outside_territory: {
    headline: 'Refusé : hors territoire',
    detail: () => 'Ce chèque est réservé à un autre territoire que celui de votre lieu.',
  },
};

/** The big answer for a refusal code, or null when the code is not a refusal. */
export function describeRefusal(code, problem) {
  const r = Object.hasOwn(REFUSALS, code) ? REFUSALS[code] : null;
  return r ? { tone: 'bad', headline: r.headline, detail: r.detail(problem) } : null;
}
