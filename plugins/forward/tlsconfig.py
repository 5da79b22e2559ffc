"""Client TLS for ``tls://`` upstreams (CoreDNS ``plugin/pkg/tls`` ``NewTLSConfigFromArgs``).

``tls`` with no file verifies upstreams against the system CAs; one file is a CA bundle; two
are a client certificate and key (system CAs); three add a CA bundle. TLS 1.2 is the minimum.
Errors keep CoreDNS's texts where Python reports the same failure.
"""

from __future__ import annotations

import ssl

from .options import TLSOptions


class TLSConfigError(ValueError):
    """A certificate, key or CA file that cannot be used; ``str()`` is CoreDNS's text."""


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def client_context(options: TLSOptions) -> ssl.SSLContext:
    """An SSL context for connecting to upstreams; raises TLSConfigError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and the name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.cert or options.key:
        try:
            context.load_cert_chain(options.cert, options.key)
        except FileNotFoundError as exc:
            missing = exc.filename or options.cert
            raise TLSConfigError(
                f"could not load TLS cert: open {missing}: no such file or directory"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"could not load TLS cert: {exc}") from None
    if not options.ca:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return context
    try:
        with open(options.ca, encoding="ascii", errors="replace") as file:
            pem = file.read()
    except OSError as exc:
        reason = _reason(exc)
        raise TLSConfigError(f"error reading {options.ca}: open {options.ca}: {reason}") from None
    try:
        context.load_verify_locations(cadata=pem)  # the file's CAs replace the system's, as in Go
    except (ssl.SSLError, ValueError):
        # Go formats a nil error here: AppendCertsFromPEM found no certificate.
        raise TLSConfigError("could not read root certs: %!s(<nil>)") from None
    return context
