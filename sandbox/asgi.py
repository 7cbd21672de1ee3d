"""The sandbox's ASGI entry point: ``uvicorn sandbox.asgi:application``.

Django runs each request's sync view in a thread of its own under ASGI, so a request held by a
`slow` or `timeout` fault never delays the other simulated systems.
"""

import os

# Forced, not setdefault: the sandbox is usually started by a process of the main project, whose
# DJANGO_SETTINGS_MODULE would otherwise be inherited and serve the tower here.
os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"

from django.core.asgi import get_asgi_application

application = get_asgi_application()
