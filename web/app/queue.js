// The device's queue of scans (localStorage): every scan is written here, with its
// scan time and its own idempotency key, BEFORE it is sent, and leaves it only once
// the server has answered for it. A closed tab, a lost connection or a reload loses
// nothing; a scan sent twice is answered once (same key).

export class ScanQueue {
  constructor(organizationId) {
    this.key = `passnum.scans.${organizationId}`;
  }

  items() {
    try {
      const items = JSON.parse(localStorage.getItem(this.key) || '[]');
      return Array.isArray(items) ? items : [];
    } catch {
      return [];
    }
  }

  save(items) {
    localStorage.setItem(this.key, JSON.stringify(items));
  }

  add(item) {
    const items = this.items();
    items.push(item);
    this.save(items);
  }

  remove(key) {
    this.save(this.items().filter((i) => i.idempotency_key !== key));
  }

  get size() {
    return this.items().length;
  }
}

/** The serial a signed code carries (PN1<key>-<serial 11><value><mac>), for display. */
export function serialOfCode(code) {
  const m = /^PN1[A-Z0-9]{1,4}-([A-Z0-9]{11})/.exec(code || '');
  if (!m) return null;
  const s = m[1];
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8)}`;
}

/**
 * How a ticket is named on screen: its full serial where the API gives it (the
 * issuing prescriber; a site for the ticket it just scanned), else `serial_hint`, the
 * last four characters, which is all anyone else — the operator included — may see.
 */
export function ticketName(ticket) {
  if (ticket?.serial) return ticket.serial;
  if (ticket?.serial_hint) return `…${ticket.serial_hint}`;
  return '';
}
