"""Chorus Pro connector: the port (``port.py``), the PISTE adapter (``http.py``), a local
stand-in of the API (``standin.py``) and the pull / push (``sync.py``)."""
