"""ASGI entry point: HTTP through Django (GitHub's hook through a body gate first), websockets
through Channels."""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradient.settings")

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry loaded)

from gradient.routing import websocket_urlpatterns  # noqa: E402
from triggers.asgi import WebhookBodyGate  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": WebhookBodyGate(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
