"""Channel `open311`."""
