"""JWTs that carry the user's token version.

Every refresh and access token holds ``token_version`` (``User.token_version`` when it was
issued). Log-out and password changes bump the user's version, so every token issued before
is refused at once: by the API and ``token/verify`` (``authentication.UserJWTAuthentication``)
and by ``token/refresh`` (``services.refresh_token_rotate``). A token without the claim
(issued before the field existed) counts as version 0.

Signing-key rotation (:class:`RotatingTokenBackend`): tokens are signed with
``SIMPLE_JWT["SIGNING_KEY"]`` (``JWT_SIGNING_KEY``) and verified with it or, when its
signature does not match, with each of ``JWT_PREVIOUS_SIGNING_KEYS``. Expiry and every other
check stay as they are, so a token signed with a previous key lives exactly its lifetime.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.conf import settings
from jwt.exceptions import InvalidSignatureError
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.tokens import RefreshToken, Token

TOKEN_VERSION_CLAIM = "token_version"

T = TypeVar("T", bound=RefreshToken)


class UserRefreshToken(RefreshToken):
    """A refresh token with the version claim; its access tokens copy the claim."""

    @classmethod
    def for_user(cls: type[T], user: Any) -> T:
        token = cast("T", super().for_user(user))
        token[TOKEN_VERSION_CLAIM] = user.token_version
        return token


def _backend_for(signing_key: str) -> TokenBackend:
    # Through the module: simplejwt replaces its api_settings object when SIMPLE_JWT changes.
    jwt_settings = simplejwt_settings.api_settings
    return TokenBackend(
        jwt_settings.ALGORITHM,
        signing_key,
        jwt_settings.VERIFYING_KEY,
        jwt_settings.AUDIENCE,
        jwt_settings.ISSUER,
        jwt_settings.JWK_URL,
        jwt_settings.LEEWAY,
        jwt_settings.JSON_ENCODER,
    )


def _bad_signature(error: TokenBackendError) -> bool:
    return isinstance(error.__cause__, InvalidSignatureError)


class RotatingTokenBackend(TokenBackend):
    """Sign with the current key; verify with the current key, then the previous ones.

    Settings are read on every call, so a changed setting (or a test's override) applies at
    once. Only a signature mismatch moves on to the next key: an expired or malformed token
    fails as before.
    """

    def __init__(self) -> None:  # no state: everything comes from the settings per call
        pass

    @property
    def current(self) -> TokenBackend:
        return _backend_for(simplejwt_settings.api_settings.SIGNING_KEY)

    def get_leeway(self) -> Any:
        return self.current.get_leeway()

    def encode(self, payload: dict[str, Any]) -> str:
        return self.current.encode(payload)

    def decode(self, token: Token | str, verify: bool = True) -> dict[str, Any]:
        try:
            return self.current.decode(token, verify=verify)  # type: ignore[arg-type]  # str or bytes at runtime
        except TokenBackendError as error:
            if not verify or not _bad_signature(error):
                raise
            first_error = error
        for previous_key in getattr(settings, "JWT_PREVIOUS_SIGNING_KEYS", []):
            try:
                return _backend_for(previous_key).decode(token, verify=verify)  # type: ignore[arg-type]
            except TokenBackendError as error:
                if not _bad_signature(error):
                    raise
        raise first_error


def install_rotating_token_backend() -> None:
    """Make every simplejwt token class (access, refresh, untyped) use :class:`RotatingTokenBackend`."""
    Token._token_backend = RotatingTokenBackend()
