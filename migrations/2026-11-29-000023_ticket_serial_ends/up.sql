-- The operator's lookup (src/lookup.rs) finds tickets by the end of their serial:
-- the last four symbols, the `serial_hint` everyone but the issuing prescriber sees.
-- Without this index each lookup would read every ticket.
CREATE INDEX tickets_serial_end ON tickets (right(serial, 4));
