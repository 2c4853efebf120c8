"""API keys for scripts and the gradient CLI: `X-API-Key: KEY` or `Authorization: Bearer KEY`."""

from rest_framework import authentication, exceptions

from workflows.services import api_key_authenticate


def api_key_from_request(request) -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw_key = api_key_from_request(request)
        if raw_key is None:
            return None
        user = api_key_authenticate(raw_key)
        if user is None:
            raise exceptions.AuthenticationFailed("this API key is not valid")
        return user, raw_key

    def authenticate_header(self, request) -> str:
        return "Bearer"
