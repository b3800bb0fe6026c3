"""Counter and phone channel: agents find or create the person and enter requests for them."""
