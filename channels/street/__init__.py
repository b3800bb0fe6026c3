"""Street reports from people and agents: web form, counter and phone, mail qualification; the one submit path every channel (Open311 too) calls."""
