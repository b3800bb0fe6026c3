"""Channel `einvoice`."""


def _register_business_stage() -> None:
    """Plug the tenant's business checks (channels.einvoice.business) into the pipeline."""
    from channels.einvoice.business import DatabaseBusinessStage
    from channels.einvoice.validation import register_business_stage

    register_business_stage(DatabaseBusinessStage())


_register_business_stage()
