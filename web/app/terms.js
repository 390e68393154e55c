// The app's words for money and for states, in one place: each money term with the
// one-line explanation shown where the term appears (the operator's and the funders'
// pages share them), and the two "annulé" that must never be confused — an undone
// scan and a ticket cancelled by its prescriber.

import { h } from './dom.js';

/** [term, one-line explanation], by the API's field name. */
export const MONEY_TERMS = {
  received: ['Reçu', 'Les versements des financeurs enregistrés pour ce dispositif.'],
  available: ['Disponible', 'L’argent reçu qui n’a pas encore servi à émettre des chéquiers.'],
  outstanding: ['En circulation', 'La valeur des chèques émis qui peuvent encore être utilisés.'],
  issuable: ['Encore émettable', 'Ce qui peut encore être émis aujourd’hui : le reste du budget, dans la limite de ce que chaque financeur a déjà versé pour sa part.'],
  held: ['Détenu', 'L’argent reçu et encore en caisse : reçu, moins ce qui a été payé aux lieux et rendu aux financeurs.'],
  owed_to_sites: ['Dû aux lieux', 'Les chèques utilisés, pas encore remboursés aux lieux (commission de l’opérateur comprise).'],
  covered: ['Couverture', 'Couvert quand l’argent détenu paie tous les chèques en circulation et tout ce qui est dû aux lieux.'],
  usage_rate: ['Taux d’usage', 'Les chèques utilisés, sur les chèques remis aux bénéficiaires.'],
};

/** The term of an API field ("held" → "Détenu"). */
export function term(key) {
  return MONEY_TERMS[key][0];
}

/** Its one-line explanation. */
export function explain(key) {
  return MONEY_TERMS[key][1];
}

/** The terms a table or a block of figures uses, each with its one-line explanation. */
export function legend(keys) {
  return h('dl.terms', keys.map((key) => [h('dt', term(key)), h('dd', explain(key))]));
}

/** A redemption's state (site's scans): an undone scan is a "scan annulé". */
export const SCAN_STATUS = { redeemed: 'Encaissé', reversed: 'Scan annulé', settled: 'Remboursé' };

/** A ticket cancelled by its prescriber (checkbook lost or stolen). */
export const TICKET_CANCELLED = 'Chèque annulé';
/** A checkbook cancelled by its prescriber. */
export const CHECKBOOK_CANCELLED = 'Chéquier annulé';

// The national list of themes (src/vocabulary.rs, `Theme`), in plain French.
export const THEMES = [
  ['premiers_pas', 'Premiers pas avec l’ordinateur'],
  ['demarches_en_ligne', 'Démarches administratives en ligne'],
  ['smartphone', 'Utiliser son smartphone'],
  ['messagerie', 'E-mails et messagerie'],
  ['securite', 'Sécurité et arnaques en ligne'],
  ['emploi', 'Chercher un emploi en ligne'],
  ['bureautique', 'Bureautique (texte, tableur)'],
  ['parentalite', 'Accompagner ses enfants (ENT, écrans)'],
];

// The four levels of autonomy of the follow-up (src/evaluations.rs, `Level`).
export const AUTONOMY_LEVELS = [
  [1, 'Ne sait pas allumer l’appareil'],
  [2, 'A besoin d’aide à chaque étape'],
  [3, 'Se débrouille avec un peu d’aide'],
  [4, 'Autonome'],
];
