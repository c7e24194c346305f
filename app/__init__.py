"""The scoring API: `create_app()` builds the Flask app (gunicorn: `app:create_app()`)."""

from app.factory import create_app

__all__ = ["create_app"]
