"""The plugins, one package per Corefile directive, installed as ``clusterdns.plugins``.

Each package has a README.md in CoreDNS's man-page style, a ``setup.py`` with ``parse`` and
``setup``, and its handler. Plugins import the core (``clusterdns.*``), never each other.
"""
