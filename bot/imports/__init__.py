"""CSV/TSV/XLSX import and export: broker lists in through the one capture path, journaled so
that an import can be resumed or reverted, and every lead out with formula cells neutralised."""
