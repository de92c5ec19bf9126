"""The access tokens (auth/tokens.py, standard-library HMAC) held to PyJWT: each decodes
the other's tokens, and what PyJWT refuses for an HS256 token with issuer and required
claims, tokens.py refuses too (tampered claims, another secret, `alg: none`, another
algorithm, expired, a claim missing or of the wrong type, the wrong issuer, garbage)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from omnichat.auth import tokens
from omnichat.errors import Unauthorized

SECRET = "test-secret-" + "x" * 32


def pyjwt_decode(token: str) -> dict:
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer=tokens.ISSUER,
                      options={"require": list(tokens.REQUIRED)})


def claims(**changes) -> dict:
    now = int(time.time())
    return {"sub": "u1", "sid": "s1", "iat": now, "exp": now + 600, "iss": tokens.ISSUER, **changes}


def test_each_decodes_the_others_tokens():
    mine = tokens.issue_access_token(SECRET, "u1", "s1", 600)
    decoded = pyjwt_decode(mine)
    assert (decoded["sub"], decoded["sid"], decoded["iss"]) == ("u1", "s1", "omnichat")
    theirs = jwt.encode(claims(), SECRET, algorithm="HS256")
    got = tokens.decode_access_token(SECRET, theirs)
    assert (got.user_id, got.session_id) == ("u1", "s1")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad_tokens() -> dict[str, str]:
    good = jwt.encode(claims(), SECRET, algorithm="HS256")
    header, _, signature = good.split(".")
    missing = claims()
    del missing["sid"]
    return {
        "tampered": ".".join([header, _b64(claims(sub="someone-else")), signature]),
        "other_secret": jwt.encode(claims(), "another-secret-" + "y" * 32, algorithm="HS256"),
        "alg_none": ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims()), ""]),
        "hs512": jwt.encode(claims(), SECRET, algorithm="HS512"),
        "missing_sid": jwt.encode(missing, SECRET, algorithm="HS256"),
        "wrong_issuer": jwt.encode(claims(iss="someone"), SECRET, algorithm="HS256"),
        "exp_text": jwt.encode(claims(exp="soon"), SECRET, algorithm="HS256"),
        "garbage": "garbage",
        "two_parts": "a.b",
        "bad_base64": "a!.b.c",
    }


def refused_by_both(token: str, pyjwt_error: type[Exception]) -> str:
    """The code omnichat refuses `token` with, once PyJWT has refused it with `pyjwt_error`."""
    with pytest.raises(pyjwt_error):
        pyjwt_decode(token)
    with pytest.raises(Unauthorized) as refused:
        tokens.decode_access_token(SECRET, token)
    return refused.value.code


@pytest.mark.parametrize("name", list(_bad_tokens()))
def test_what_pyjwt_refuses_is_refused(name):
    assert refused_by_both(_bad_tokens()[name], jwt.PyJWTError) == "invalid_token"


def test_expired_is_its_own_error_in_both():
    token = jwt.encode(claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256")
    assert refused_by_both(token, jwt.ExpiredSignatureError) == "token_expired"


def test_the_hot_path_does_not_load_pyjwt_or_cryptography():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom omnichat.auth import credentials, tokens\n"
            "t = tokens.issue_access_token('s' * 40, 'u', 's', 60)\ntokens.decode_access_token('s' * 40, t)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'jwt', 'cryptography'}))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={"PYTHONPATH": str(root / "layers/omnichat"), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"
