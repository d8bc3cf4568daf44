# SPDX-License-Identifier: Apache-2.0
"""Small helpers shared by the vaultdev modules: Go-compatible JSON output,
Go/Vault duration parsing and printing, random identifiers and times."""

import datetime
import fnmatch
import json
import re
import secrets
import string
import uuid

_B62 = string.ascii_letters + string.digits


def rand_b62(n):
    return "".join(secrets.choice(_B62) for _ in range(n))


def new_uuid():
    return str(uuid.uuid4())


def go_escape(s):
    # Go's json.Encoder escapes <, > and & (HTML-safe) and U+2028/2029.
    # They can only appear inside JSON strings, so a plain replace is safe.
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def go_dumps(value):
    """One value the way Go's json.Encoder writes a map: compact, keys sorted."""
    return go_escape(json.dumps(value, separators=(",", ":"), sort_keys=True,
                                ensure_ascii=False))


def go_encode(value):
    return (go_dumps(value) + "\n").encode("utf-8")


_DUR_RE = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|\u00b5s|ms|s|m|h|d)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
              "h": 3600, "d": 86400}


def parse_duration(v, default=0):
    """Vault's parseutil.ParseDurationSecond: int/float seconds, a numeric
    string (seconds) or a Go duration string ("1h30m", also "d"). Returns int
    seconds; raises ValueError on junk."""
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        raise ValueError("invalid duration")
    if isinstance(v, (int, float)):
        return int(v)
    if not isinstance(v, str):
        raise ValueError("invalid duration")
    s = v.strip()
    if re.fullmatch(r"-?[0-9]+", s):
        return int(s)
    neg = s.startswith("-")
    if neg:
        s = s[1:]
    pos = 0
    total = 0.0
    for m in _DUR_RE.finditer(s):
        if m.start() != pos:
            raise ValueError("invalid duration %r" % v)
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError("invalid duration %r" % v)
    return -int(total) if neg else int(total)


def go_duration(seconds):
    """Go's time.Duration.String() for whole seconds ("1h0m0s", "90s" -> "1m30s")."""
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return "%s%dh%dm%ds" % (sign, h, m, s)
    if m:
        return "%s%dm%ds" % (sign, m, s)
    return "%s%ds" % (sign, s)


def rfc3339nano(ts):
    """Go's time.RFC3339Nano in UTC: fractional digits trimmed of trailing zeros."""
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = ("%06d" % dt.microsecond).rstrip("0")
    return base + ("." + frac if frac else "") + "Z"


def glob_match(patterns, value):
    """Vault's strutil.StrListContainsGlob: "*" anywhere is a wildcard, nothing
    else is special."""
    for p in patterns or []:
        if p == value:
            return True
        if "*" in p:
            esc = p.replace("[", "[[]").replace("?", "[?]")
            if fnmatch.fnmatchcase(value, esc):
                return True
    return False


def as_list(v):
    """Vault's comma-string-or-list field type."""
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    return [str(v)]


def as_bool(v, default=False):
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "t", "true", "yes", "y", "on"):
            return True
        if s in ("0", "f", "false", "no", "n", "off", ""):
            return False
    raise ValueError("cannot parse %r as bool" % (v,))


def as_int(v, default=0):
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        raise ValueError("not an int")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*-?[0-9]+\s*", v):
        return int(v)
    raise ValueError("cannot parse %r as int" % (v,))
