"""JWTs that carry the user's token version.

Every refresh and access token holds ``token_version`` (``User.token_version`` when it was
issued). Log-out and password changes bump the user's version, so every token issued before
is refused at once: by the API and ``token/verify`` (``authentication.UserJWTAuthentication``)
and by ``token/refresh`` (``services.refresh_token_rotate``). A token without the claim
(issued before the field existed) counts as version 0.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from rest_framework_simplejwt.tokens import RefreshToken

TOKEN_VERSION_CLAIM = "token_version"

T = TypeVar("T", bound=RefreshToken)


class UserRefreshToken(RefreshToken):
    """A refresh token with the version claim; its access tokens copy the claim."""

    @classmethod
    def for_user(cls: type[T], user: Any) -> T:
        token = cast("T", super().for_user(user))
        token[TOKEN_VERSION_CLAIM] = user.token_version
        return token
