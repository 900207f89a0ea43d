"""Certificates made by tests: a CA, a broker certificate for loopback, a client certificate.

Everything is PEM. The broker's keystore file holds its unencrypted PKCS#8 key followed by its
certificate (Kafka's ``ssl.keystore.type=PEM``); the client's key is encrypted with a password,
as a production client key would be.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    """The CA that signed the broker's and the client's certificates."""
    broker_keystore: Path
    """Broker key (PKCS#8, unencrypted) and certificate, for 127.0.0.1 and localhost."""
    client_cert: Path
    client_key: Path
    """Encrypted with ``client_key_password``."""
    client_key_password: str
    other_ca_cert: Path
    """A CA that signed nothing here: trusting only it must fail the handshake."""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "guardstream tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    usage: ExtendedKeyUsageOID | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def make_tls_files(folder: Path, client_key_password: str = "client-key-secret") -> TlsFiles:
    """Write a fresh CA, broker keystore and client certificate into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_cert = _certificate("guardstream test CA", ca_key, None, ca=True)
    ca = (ca_cert.subject, ca_key)

    broker_key = _key()
    broker_sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    broker_cert = _certificate("127.0.0.1", broker_key, ca, usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=broker_sans)
    broker_pem = broker_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + _pem(broker_cert)

    client_key = _key()
    client_cert = _certificate("guardstream-client", client_key, ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    client_key_pem = client_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(client_key_password.encode()),
    )
    other_key = _key()
    other_ca = _certificate("some other CA", other_key, None, ca=True)
    return TlsFiles(
        ca_cert=_write(folder / "ca.pem", _pem(ca_cert)),
        broker_keystore=_write(folder / "broker-keystore.pem", broker_pem),
        client_cert=_write(folder / "client.pem", _pem(client_cert)),
        client_key=_write(folder / "client.key", client_key_pem),
        client_key_password=client_key_password,
        other_ca_cert=_write(folder / "other-ca.pem", _pem(other_ca)),
    )
