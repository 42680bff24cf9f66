"""Certificates for TLS tests (made by ``trustme``) and the ``nats-server`` settings of a server that requires TLS
with client certificates and a user with a password: shared by the integration and end-to-end tiers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path
    """A CA that did not sign the server's certificate: trusting only it must fail verification."""
    server_cert: Path
    server_key: Path

    @classmethod
    def make(cls, folder: Path) -> Pki:
        folder.mkdir(parents=True, exist_ok=True)
        ca, other = trustme.CA(), trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("telephony-settings.example.com")
        paths = cls(
            ca=folder / "ca.pem",
            cert=folder / "client.pem",
            key=folder / "client.key",
            other_ca=folder / "other-ca.pem",
            server_cert=folder / "server.pem",
            server_key=folder / "server.key",
        )
        ca.cert_pem.write_to_path(str(paths.ca))
        other.cert_pem.write_to_path(str(paths.other_ca))
        server.cert_chain_pems[0].write_to_path(str(paths.server_cert))
        server.private_key_pem.write_to_path(str(paths.server_key))
        client.cert_chain_pems[0].write_to_path(str(paths.cert))
        client.private_key_pem.write_to_path(str(paths.key))
        return paths

    def server_settings(self, user: str, password: str) -> str:
        """TLS that verifies clients' certificates, and one user with a password."""
        return f"""tls {{
  cert_file: "{self.server_cert}"
  key_file: "{self.server_key}"
  ca_file: "{self.ca}"
  verify: true
  timeout: 2
}}
authorization {{ user: {user}, password: "{password}" }}
"""
