# SPDX-License-Identifier: Apache-2.0
"""X.509 helpers: a self-made CA for the listener's TLS, and the CA plus leaf
issuance behind a PKI mount."""

import base64
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def gen_key(key_type="ec", bits=0):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits or 2048)
    if key_type == "ec":
        curve = {224: ec.SECP224R1, 256: ec.SECP256R1, 384: ec.SECP384R1,
                 521: ec.SECP521R1}.get(bits or 256)
        if curve is None:
            raise ValueError("unsupported EC key size %d" % bits)
        return ec.generate_private_key(curve())
    raise ValueError("unsupported key_type %r" % key_type)


def _dt(ts):
    return datetime.datetime.fromtimestamp(int(ts), tz=datetime.timezone.utc).replace(tzinfo=None)


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key, pkcs8=False):
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else \
        serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, fmt,
                             serialization.NoEncryption()).decode()


def key_der_b64(key, pkcs8=False):
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else \
        serialization.PrivateFormat.TraditionalOpenSSL
    return base64.b64encode(key.private_bytes(serialization.Encoding.DER, fmt,
                                              serialization.NoEncryption())).decode()


def cert_der_b64(cert):
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def serial_colon(n):
    h = "%x" % n
    if len(h) % 2:
        h = "0" + h
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


class CA:
    """A self-signed root CA (key + certificate)."""

    def __init__(self, common_name, now, key_type="ec", bits=0, years=10):
        self.key = gen_key(key_type, bits)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_dt(now - 60))
            .not_valid_after(_dt(now + years * 365 * 86400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = cert_pem(self.cert)

    @property
    def not_after(self):
        return self.cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()

    def issue(self, common_name, now, ttl, dns=(), ips=(), uris=(), emails=(),
              key_type="rsa", bits=0, server=True, client=True, not_before_skew=30):
        """Sign a fresh leaf. Returns (key, cert)."""
        key = gen_key(key_type, bits)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]) \
            if common_name else x509.Name([])
        sans = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        sans += [x509.UniformResourceIdentifier(u) for u in uris]
        sans += [x509.RFC822Name(e) for e in emails]
        eku = []
        if server:
            eku.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        b = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_dt(now - not_before_skew))
            .not_valid_after(_dt(now + ttl))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey), data_encipherment=False,
                key_agreement=True, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
        )
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, b.sign(self.key, hashes.SHA256())
