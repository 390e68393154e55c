DROP INDEX tickets_serial_end;
