"""The web channel: online catalogue per tenant, drafts, tracking and claim codes."""
