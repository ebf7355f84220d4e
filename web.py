"""Everything the browser-facing app needs: extensions, blueprints, headers, error pages."""

from flask import Flask, render_template

from extensions import csrf
from htmx import vary_on_htmx


def init_web(app: Flask) -> None:
    """Wire CSRF, blueprints, security headers and error pages into `app`."""
    csrf.init_app(app)

    from blueprints import dashboard

    app.register_blueprint(dashboard.bp)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return vary_on_htmx(response)

    @app.errorhandler(404)
    def not_found(_error):
        return render_template("errors/error.html", code=404, message="Page not found."), 404

    @app.errorhandler(500)
    def server_error(_error):
        return render_template("errors/error.html", code=500, message="Something went wrong."), 500
