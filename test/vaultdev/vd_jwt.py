# SPDX-License-Identifier: Apache-2.0
"""JWT parsing and signature verification (JWS compact form) for the
kubernetes and jwt auth methods. Claims checks live in the callers because the
two auth methods word their errors differently."""

import base64
import json

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

_HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}

SUPPORTED_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                  "ES256", "ES384", "ES512", "EdDSA")


class JWTError(Exception):
    """Malformed token or failed signature; str() is the reason."""


class JWT:
    __slots__ = ("header", "claims", "signing_input", "signature")

    def __init__(self, header, claims, signing_input, signature):
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature

    @property
    def alg(self):
        return self.header.get("alg")


def _b64url(s):
    s += "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode("ascii"))


def parse(token):
    if not isinstance(token, str):
        raise JWTError("malformed JWT: not a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("malformed JWT: compact JWS format must have three parts")
    try:
        raw = [_b64url(p) for p in parts]
    except (ValueError, UnicodeError):
        raise JWTError("malformed JWT: illegal base64 data")
    try:
        header = json.loads(raw[0])
        claims = json.loads(raw[1])
    except (ValueError, UnicodeError):
        raise JWTError("malformed JWT: invalid JSON")
    sig = raw[2]
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JWTError("malformed JWT: header and payload must be JSON objects")
    return JWT(header, claims, (parts[0] + "." + parts[1]).encode("ascii"), sig)


def load_public_key(pem):
    """A PEM public key (SPKI or PKCS#1) or a certificate (its key is used)."""
    data = pem.encode() if isinstance(pem, str) else pem
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def _verify_one(key, alg, signing_input, sig):
    if alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
        key.verify(sig, signing_input, padding.PKCS1v15(), _HASH[alg[2:]]())
    elif alg.startswith("PS") and isinstance(key, rsa.RSAPublicKey):
        h = _HASH[alg[2:]]()
        key.verify(sig, signing_input,
                   padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    elif alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
        n = (key.curve.key_size + 7) // 8
        if len(sig) != 2 * n:
            raise InvalidSignature()
        der = encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                   int.from_bytes(sig[n:], "big"))
        key.verify(der, signing_input, ec.ECDSA(_HASH[alg[2:]]()))
    elif alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(sig, signing_input)
    else:
        raise InvalidSignature()


def verify_signature(tok, keys):
    """True if any key validates the signature. alg "none" never does."""
    alg = tok.alg
    if alg not in SUPPORTED_ALGS:
        return False
    for k in keys:
        try:
            _verify_one(k, alg, tok.signing_input, tok.signature)
            return True
        except (InvalidSignature, ValueError, KeyError):
            continue
    return False


def audiences(claims):
    aud = claims.get("aud")
    if aud is None:
        return []
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def num_claim(claims, name):
    v = claims.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise JWTError("malformed JWT: claim %s is not a number" % name)
    return float(v)
