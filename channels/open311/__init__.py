"""Channel `open311`: the Open311 GeoReport v2 server (XML and JSON) for street reports, with
mySociety's ``servicerequestupdates`` extension, under ``/api/v1/open311/v2``.

Open311 is only a channel: a POST builds a report through ``channels.street.service.submit_report``
and every answer is a projection of the case (``views``). Modules: ``controllers`` (HTTP, one
handler per method, errors as the specification's array), ``service`` (jurisdictions and the read
side), ``submission`` (POST requests and updates), ``parsing`` (lenient input), ``wire`` (strict
XML/JSON output), ``keys`` and ``admin_controllers`` (api keys), ``settings``
(``GUICHET_OPEN311_*``).

Decisions where the specification leaves a choice (open311.md [decide]):
- ``jurisdiction_id`` = the tenant's INSEE code (its slug is accepted); a jurisdiction covers its
  tenant and that tenant's communes; missing or empty → ``GUICHET_OPEN311_DEFAULT_JURISDICTION``,
  else the only métropole (it routes by location); unknown → 404.
- ``service_request_id`` = the report's reference (a string). Services are ``realtime``: a POST
  answers with the id at once, never a token; ``tokens/{t}`` answers for a known reference (a
  stable alias: id and token equal) and 404 otherwise.
- ``api_key``: POST only, in the body (form field or XML element); in the query string of a POST
  → 403 saying where it goes; ignored on GET. Keys are per client, stored as SHA-256, scoped to
  a tenant (a métropole's covers its communes) or to every tenant; revocable at once
  (``/api/v1/admin/open311/keys``).
- Location: ``lat`` + ``long`` required (no geocoding); a point outside every tenant → 400.
- Dates: zone-less input is Europe/Paris; output always carries the Paris offset. A
  ``start_date``/``end_date`` span over 90 days → 400 (not clamped); default: the last 90 days.
- Bodies: form-urlencoded (UTF-8 whatever the charset; invalid UTF-8 → 400), multipart with photo
  parts (``photo1``…, ``media``, ``file_*``), or XML through defusedxml (a DOCTYPE or entities →
  400, nothing read). A JSON body → 400 naming the expected type.
- Errors: 404 unknown, 403 key, 405 other methods, 413 body too large, 400 everything else (a
  failing back end included); never problem+json, never 500 on these routes.
- Idempotence: the same POST by the same key within 60 s → the same id (street reports'
  fingerprint); an ``Idempotency-Key`` header makes it permanent; a repeated ``update_id`` on
  ``POST servicerequestupdates`` gets the first answer.
- ``page``/``page_size`` (wiki extension) are not supported: at most 1000 results, oldest first.
- An http(s) ``media_url`` is recorded on the case as a link, not downloaded (no fetch job yet);
  ``data:image/…;base64`` URIs and multipart parts become the report's photos.
"""
