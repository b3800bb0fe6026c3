"""Uploaded files (attachments): streamed with a size limit, typed from their bytes, names
sanitised, image and zip bombs refused, optionally scanned by ClamAV, within a per-person quota."""
