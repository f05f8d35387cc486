"""Snowflake authentication: parameters -> the keyword arguments of ``snowflake.connector.connect``.

Pure and small: nothing here opens a connection, and neither the connector nor cryptography is
imported until a function needs it (``flowkit --help`` and SQLite runs never load them).

Strategies (``Snowflake Authentication Strategy``):

- ``KEY_PAIR``: a PKCS#8 PEM RSA private key (2048 bits or more, Snowflake's minimum), from
  ``Snowflake Private Key`` (text) or ``Snowflake Private Key File`` (exactly one), encrypted or not
  (``Snowflake Private Key Password``). The connector signs the login JWT itself
  (``authenticator="SNOWFLAKE_JWT"``); we hand it the key as unencrypted PKCS#8 DER bytes.
- ``SNOWFLAKE_MANAGED`` (aliases ``SNOWFLAKE_SESSION_TOKEN``, ``SNOWFLAKE_MANAGED_TOKEN``): inside
  Snowpark Container Services the platform mounts an OAuth session token at
  ``/snowflake/session/token`` and sets ``SNOWFLAKE_HOST`` / ``SNOWFLAKE_ACCOUNT`` (and sometimes
  ``SNOWFLAKE_PORT``, passed on as the port when set). The token is rotated, so it is read again for
  every new connection.
  Environment variable ``FLOWKIT_SNOWFLAKE_TOKEN_FILE`` points at another token file (tests, or a
  sidecar that writes the token elsewhere).

Key text is accepted with surrounding whitespace or quotes, CRLF line ends, literal ``\\n`` escapes
(keys pasted into environment variables) and even on one line: the PEM body is re-wrapped before
parsing. Not accepted: PKCS#1 (``BEGIN RSA PRIVATE KEY``), EC/Ed25519/DSA keys, public keys,
certificates, DER files - each refused with a hint how to convert.

A password given for an unencrypted key is refused rather than ignored: it almost always means the
wrong key (or the wrong file) is configured, and silently ignoring it would hide that.

Every refusal is a ``SnowflakeAuthError``: one line, ``'<Parameter>': <what is wrong>``, never the key
text, password or token, and raised outside ``except`` blocks so no chained exception (whose text
could quote the input) travels with it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from flowkit.engine.validators import is_loopback_host

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

# Parameter names (product contract, exact spelling).
PRIVATE_KEY = "Snowflake Private Key"
PRIVATE_KEY_FILE = "Snowflake Private Key File"
PRIVATE_KEY_PASSWORD = "Snowflake Private Key Password"
STRATEGY = "Snowflake Authentication Strategy"
HOST = "Snowflake Host"
ACCOUNT = "Snowflake Account Identifier"
USERNAME = "Snowflake Username"

KEY_PAIR = "KEY_PAIR"
SNOWFLAKE_MANAGED = "SNOWFLAKE_MANAGED"
STRATEGY_ALIASES = {
    KEY_PAIR: KEY_PAIR,
    SNOWFLAKE_MANAGED: SNOWFLAKE_MANAGED,
    "SNOWFLAKE_SESSION_TOKEN": SNOWFLAKE_MANAGED,
    "SNOWFLAKE_MANAGED_TOKEN": SNOWFLAKE_MANAGED,
}

DEFAULT_TOKEN_PATH = "/snowflake/session/token"
TOKEN_FILE_ENV = "FLOWKIT_SNOWFLAKE_TOKEN_FILE"
HOST_ENV = "SNOWFLAKE_HOST"
ACCOUNT_ENV = "SNOWFLAKE_ACCOUNT"
PORT_ENV = "SNOWFLAKE_PORT"

MIN_RSA_BITS = 2048
# A PEM key or a session token is a few KB; refuse to slurp a large file configured by mistake.
_MAX_FILE_BYTES = 1024 * 1024

_OPENSSL_TO_PKCS8 = "convert it with: openssl pkcs8 -topk8 -in <key> -out rsa_key.p8 (add -nocrypt for no password)"
_PEM_BEGIN = re.compile(r"-----BEGIN ([^-\r\n]{1,60})-----")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----(.*?)-----END \1-----", re.DOTALL)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_ESCAPED_NEWLINE = re.compile(r"\\r\\n|\\n|\\r")
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


class SnowflakeAuthError(ValueError):
    """A Snowflake authentication parameter is wrong. ``str()`` is one line naming the parameter.

    When this module raises it, ``parameter`` is the parameter's product name and ``problem`` the message
    without the ``'<Parameter>': `` prefix (for validators that add the name themselves).
    """

    def __init__(self, message: str, parameter: str | None = None, problem: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.problem = message if problem is None else problem

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.parameter, self.problem))


def _refuse(parameter: str, problem: str) -> SnowflakeAuthError:
    return SnowflakeAuthError(f"'{parameter}': {problem}", parameter, problem)


# ----------------------------------------------------------------------------------------- strategy


def normalize_strategy(value: str | None) -> str:
    """``KEY_PAIR`` or ``SNOWFLAKE_MANAGED`` (case-insensitive; the two older names map to the latter)."""
    given = (value or "").strip()
    if given.upper() in STRATEGY_ALIASES:
        return STRATEGY_ALIASES[given.upper()]
    shown = f"{given!r} is not a strategy" if given else "is blank"
    raise _refuse(
        STRATEGY,
        f"{shown}; use KEY_PAIR or SNOWFLAKE_MANAGED (older names: SNOWFLAKE_SESSION_TOKEN, SNOWFLAKE_MANAGED_TOKEN)",
    )


# ----------------------------------------------------------------------------------------- key pair


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


_SHOWN_PATH_MAX = 200


def _show_path(path: str) -> str:
    """A path for a message. Paths are not secrets, but a value given where a path belongs may be one
    (key text pasted into 'Snowflake Private Key File', a token set as the token file): such a value
    (PEM markers, line breaks or escapes, very long) is never repeated."""
    if "BEGIN" in path or "\\n" in path or not path.isprintable() or len(path) > _SHOWN_PATH_MAX:
        return "the value given (not shown: it looks like key or token text, not a path)"
    return path


def load_private_key(text: str | None, file: str | None, password: str | None) -> RSAPrivateKey:
    """Load the RSA key of ``Snowflake Private Key`` (PEM text) or ``Snowflake Private Key File`` (a path).

    Exactly one of ``text`` / ``file`` must be set (blank counts as unset). ``password`` is required
    for an encrypted key and refused for an unencrypted one. Raises ``SnowflakeAuthError``.
    """
    if _blank(text) and _blank(file):
        raise _refuse(
            PRIVATE_KEY, f"KEY_PAIR needs the key: set '{PRIVATE_KEY}' (PEM text) or '{PRIVATE_KEY_FILE}' (a path)"
        )
    if not _blank(text) and not _blank(file):
        raise _refuse(PRIVATE_KEY, f"is set and so is '{PRIVATE_KEY_FILE}'; set only one of them")
    if file is not None and not _blank(file):
        path = file.strip()
        source, where = PRIVATE_KEY_FILE, f"the key in '{PRIVATE_KEY_FILE}' ({_show_path(path)})"
        pem_text, problem = _read_small_text(Path(path).expanduser(), what="key file")
        if problem is not None:
            raise _refuse(PRIVATE_KEY_FILE, problem)
    else:
        assert text is not None
        source, where, pem_text = PRIVATE_KEY, f"the key in '{PRIVATE_KEY}'", text
    pem, encrypted = _normalize_pem(source, pem_text)
    secret = None if password is None or password == "" else password
    if encrypted and secret is None:
        raise _refuse(PRIVATE_KEY_PASSWORD, f"is blank but {where} is encrypted (ENCRYPTED PRIVATE KEY)")
    if not encrypted and secret is not None:
        raise _refuse(
            PRIVATE_KEY_PASSWORD, f"is set but {where} is not encrypted; clear the password or use the encrypted key"
        )
    return _check_rsa(source, _parse_pem(source, where, pem, secret))


def _read_small_text(path: Path, *, what: str, shown: str | None = None) -> tuple[str, str | None]:
    """(text, None), or ("", what is wrong with the file): the message names the path (or ``shown``),
    never the content."""
    shown = shown or _show_path(str(path))
    problem: str | None = None
    data = b""
    try:
        if path.is_dir():
            problem = f"{shown} is a directory, not a {what}"
        elif not path.exists():
            problem = f"{shown} does not exist"
        elif path.stat().st_size > _MAX_FILE_BYTES:
            problem = f"{shown} is larger than {_MAX_FILE_BYTES} bytes; that is not a {what}"
        else:
            data = path.read_bytes()
    except PermissionError:
        problem = f"{shown} cannot be read (permission denied)"
    except OSError as exc:
        problem = f"{shown} cannot be read ({exc.strerror or type(exc).__name__})"
    if problem is None:
        try:
            return data.decode("utf-8-sig"), None
        except UnicodeDecodeError:
            hint = " (a DER key? convert it with: openssl pkcs8 -inform DER -outform PEM)" if what == "key file" else ""
            problem = f"{shown} is not a text file{hint}"
    return "", problem


def _normalize_pem(source: str, text: str) -> tuple[bytes, bool]:
    """One PKCS#8 PEM block, re-wrapped cleanly -> (PEM bytes, encrypted?). Messages never quote the text."""
    cleaned = _ESCAPED_NEWLINE.sub("\n", text.strip()).strip()
    if len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in "'\"":
        cleaned = cleaned[1:-1].strip()
    labels = _PEM_BEGIN.findall(cleaned)
    if not labels:
        hint = f"; if it is a path, set '{PRIVATE_KEY_FILE}' instead" if source == PRIVATE_KEY else ""
        raise _refuse(source, f"is not PEM text (no '-----BEGIN PRIVATE KEY-----' line){hint}")
    if len(labels) > 1:
        raise _refuse(source, f"holds {len(labels)} PEM blocks; give only the PKCS#8 private key")
    label = labels[0]
    problem = _label_problem(label)
    if problem:
        raise _refuse(source, problem)
    block = _PEM_BLOCK.fullmatch(cleaned)
    if block is None:
        raise _refuse(
            source,
            f"is not one complete PEM block ('-----BEGIN {label}-----' ... '-----END {label}-----' and nothing else)",
        )
    body = re.sub(r"\s+", "", block.group(2))
    if not body or not _BASE64.fullmatch(body):
        raise _refuse(source, "is damaged: the text between the BEGIN and END lines is not base64")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode("ascii"), label.startswith("ENCRYPTED")


def _label_problem(label: str) -> str | None:
    if label in ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
        return None
    if label == "RSA PRIVATE KEY":
        return f"is a PKCS#1 key ('BEGIN RSA PRIVATE KEY'); Snowflake needs PKCS#8: {_OPENSSL_TO_PKCS8}"
    if label in ("EC PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY"):
        return f"is a {label.split()[0]} key; Snowflake key-pair authentication needs an RSA key in PKCS#8 PEM"
    if "PUBLIC KEY" in label:
        return "is a public key; give the private key (the public key goes into ALTER USER ... SET RSA_PUBLIC_KEY)"
    shown = label if re.fullmatch(r"[A-Z0-9 ]{1,40}", label) else "unknown"
    return f"is a PEM '{shown}' block, not a PKCS#8 private key ('-----BEGIN PRIVATE KEY-----')"


def _parse_pem(source: str, where: str, pem: bytes, password: str | None) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    # File-based secrets often end with a newline the user never meant: try the password as given,
    # then without trailing line ends.
    candidates: list[bytes | None] = [None]
    if password is not None:
        candidates = [password.encode("utf-8")]
        if password.rstrip("\r\n") not in ("", password):
            candidates.append(password.rstrip("\r\n").encode("utf-8"))
    unsupported = False
    for candidate in candidates:
        try:
            return load_pem_private_key(pem, password=candidate)
        except UnsupportedAlgorithm:
            unsupported = True
            break
        except (ValueError, TypeError):
            continue
    # Raised here, not inside ``except``: no chained cryptography error rides along.
    if unsupported:
        raise _refuse(
            source,
            "uses a key type or encryption this build cannot read; "
            "re-encrypt it with openssl pkcs8 -topk8 -v2 aes-256-cbc",
        )
    if password is not None:
        raise _refuse(PRIVATE_KEY_PASSWORD, f"does not decrypt {where} (wrong password?)")
    raise _refuse(source, "is not a valid PKCS#8 private key (the PEM data cannot be parsed)")


def _check_rsa(source: str, key: Any) -> RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise _refuse(source, f"is a {key.key_size}-bit RSA key; Snowflake requires at least {MIN_RSA_BITS} bits")
        return key
    kinds: list[tuple[type, str]] = [
        (ec.EllipticCurvePrivateKey, "an EC"),
        (ed25519.Ed25519PrivateKey, "an Ed25519"),
        (ed448.Ed448PrivateKey, "an Ed448"),
        (dsa.DSAPrivateKey, "a DSA"),
    ]
    kind = next((name for cls, name in kinds if isinstance(key, cls)), "a non-RSA")
    raise _refuse(source, f"is {kind} key; Snowflake key-pair authentication needs an RSA key")


def private_key_der(key: RSAPrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 DER: what the connector's ``private_key`` argument takes."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def public_key_fingerprint(key: RSAPrivateKey) -> str:
    """``SHA256:<base64>`` of the public key DER: Snowflake's ``RSA_PUBLIC_KEY_FP`` and the JWT issuer suffix."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def key_pair_connect_args(account: str, user: str, key: RSAPrivateKey) -> dict[str, Any]:
    """``connect()`` arguments for KEY_PAIR. The connector builds and signs the JWT from these."""
    account = (account or "").strip()
    user = (user or "").strip()
    if not account:
        raise _refuse(ACCOUNT, "is blank; KEY_PAIR needs it (<org>-<account>, e.g. MYORG-MYACCOUNT)")
    if "snowflakecomputing" in account.lower() or "/" in account:
        raise _refuse(
            ACCOUNT,
            f"must be the account identifier (<org>-<account>), not a URL or host name; a host goes in '{HOST}'",
        )
    if not _ACCOUNT_RE.fullmatch(account):
        raise _refuse(ACCOUNT, f"{account!r} is not an account identifier (<org>-<account>)")
    if not user:
        raise _refuse(USERNAME, "is blank; KEY_PAIR needs the user that holds the public key")
    if not user.isprintable():
        raise _refuse(USERNAME, "contains control characters")
    return {"account": account, "user": user, "authenticator": "SNOWFLAKE_JWT", "private_key": private_key_der(key)}


# ---------------------------------------------------------------------------------------- managed


def managed_token_path(env: Mapping[str, str] | None = None) -> Path:
    """``$FLOWKIT_SNOWFLAKE_TOKEN_FILE`` when set, else ``/snowflake/session/token``."""
    env = os.environ if env is None else env
    override = (env.get(TOKEN_FILE_ENV) or "").strip()
    return Path(override).expanduser() if override else Path(DEFAULT_TOKEN_PATH)


def _managed_settings(env: Mapping[str, str]) -> tuple[str, str, int | None]:
    missing = [name for name in (HOST_ENV, ACCOUNT_ENV) if not (env.get(name) or "").strip()]
    if missing:
        raise _refuse(
            STRATEGY,
            f"SNOWFLAKE_MANAGED needs the environment variable{'s' if len(missing) > 1 else ''} "
            f"{' and '.join(missing)} (set by Snowpark Container Services); use KEY_PAIR outside it",
        )
    host, account = env[HOST_ENV].strip(), env[ACCOUNT_ENV].strip()
    if "/" in host or not host.isprintable():
        raise _refuse(STRATEGY, f"environment variable {HOST_ENV} must be a host name, not a URL")
    port_text = (env.get(PORT_ENV) or "").strip()
    port = None
    if port_text:
        port = int(port_text) if port_text.isdigit() else 0
        if not 0 < port < 65536:
            raise _refuse(STRATEGY, f"environment variable {PORT_ENV} is not a port number")
    return host, account, port


def _read_token(env: Mapping[str, str]) -> str:
    path = managed_token_path(env)
    # An override is never echoed: the token itself set as the variable would otherwise be printed.
    shown = DEFAULT_TOKEN_PATH if str(path) == DEFAULT_TOKEN_PATH else f"the file {TOKEN_FILE_ENV} names"
    text, problem = _read_small_text(path, what="token file", shown=shown)
    token = text.strip()
    if problem is None and token:
        return token
    problem = f"SNOWFLAKE_MANAGED reads the session token file, but {problem or f'{shown} is empty'}"
    if str(path) == DEFAULT_TOKEN_PATH:
        where = f"Snowpark Container Services mounts it; set {TOKEN_FILE_ENV} to read another file"
    else:
        where = f"the path comes from {TOKEN_FILE_ENV}"
    raise _refuse(STRATEGY, f"{problem} ({where})")


def check_managed(env: Mapping[str, str] | None = None) -> None:
    """Refuse SNOWFLAKE_MANAGED early when the environment or the token file is not there."""
    env = os.environ if env is None else env
    _managed_settings(env)
    _read_token(env)


def managed_connect_args(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``connect()`` arguments for SNOWFLAKE_MANAGED. Reads the token file on every call: it is rotated."""
    env = os.environ if env is None else env
    host, account, port = _managed_settings(env)
    args: dict[str, Any] = {"host": host, "account": account, "authenticator": "oauth", "token": _read_token(env)}
    if port is not None:
        args["port"] = port
    return args


# ------------------------------------------------------------------------------------------- host


def host_connect_args(url: str) -> dict[str, Any]:
    """``Snowflake Host`` (``https://host[:port]``; ``http://`` for loopback only) -> host, port, protocol."""
    raw = (url or "").strip()
    problem: str | None = None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        parts, port, problem = urlsplit(""), None, "is not a valid URL (expected https://host[:port])"
    if problem is None:
        problem = _host_problem(raw, parts.scheme.lower(), parts.hostname or "", parts)
    if problem is not None:
        raise _refuse(HOST, problem)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if port == 0:
        raise _refuse(HOST, "port 0 is not a port")
    # The connector builds "{protocol}://{host}:{port}", so an IPv6 address needs its brackets.
    shown = f"[{host}]" if ":" in host else host
    return {"host": shown, "port": port or (443 if scheme == "https" else 80), "protocol": scheme}


def _host_problem(raw: str, scheme: str, host: str, parts: SplitResult) -> str | None:
    if not raw:
        return "is blank (expected https://host[:port])"
    if not raw.isprintable():
        return "contains control characters"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not contain credentials (user:password@)"
    if scheme not in ("http", "https") or not host:
        return f"{raw!r} is not https://host[:port]"
    if parts.path not in ("", "/") or parts.query or parts.fragment or raw.endswith(("?", "#")):
        return f"{raw!r} must be only https://host[:port], with nothing after the port"
    if scheme == "http" and not is_loopback_host(host):
        return f"plain http is accepted only for loopback hosts; use https://{host}"
    return None
