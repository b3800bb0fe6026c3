"""Channel `einvoice`."""
