"""HTTP serving: the ASGI application, the admin listener and the process supervisor."""
