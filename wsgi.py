"""Entry point for WSGI servers: `gunicorn wsgi:app`."""

from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402

app = create_app()
