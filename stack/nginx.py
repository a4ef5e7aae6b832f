"""The one public origin's nginx configuration, rendered from ``deploy/nginx.conf.template``.

The local stack renders it with loopback upstreams (stack/stack.py); the edge image of
docker-compose and Kubernetes renders it at build time with service names
(``python -m stack.nginx``). Plain Python: the image's render stage has no Django or psycopg.
"""

from __future__ import annotations

import argparse
import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

from inference.proxy.routes import MODEL_ID_CHARS, MODEL_ROUTE_PREFIX, PUBLIC_ROUTES

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
# The portal's client-side routes: nginx answers them with index.html (the SPA routes itself).
PORTAL_ROUTES = (
    "login",
    "signup",
    "auth/callback",
    "verify-email",  # the links of the accounts' mails (accounts/emails.py)
    "reset-password",
    "dashboard",
    "keys",
    "playground",
    "history",
    "settings",
)
TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class NginxSite:
    """What differs between the local stack and a container: where things are and listen."""

    state_dir: Path  # pid file and temp paths (<state_dir>/nginx/<kind>)
    listen: str  # "127.0.0.1:8000", "8080"
    django_upstream: str  # "127.0.0.1:8001", "web:8001"
    litellm_upstream: str  # "127.0.0.1:4000", "litellm:4000"
    portal_dist: Path
    access_log: str
    error_log: str
    user_directive: str = ""
    forwarded_proto: str = "$scheme"  # what Django is told the client's scheme was
    edge_anonymous_rps: int = 20
    edge_anonymous_burst: int = 40
    edge_address_rps: int = 1000
    edge_address_burst: int = 2000
    export_connections: int = 4
    edge_auth_rps: int = 20
    edge_auth_burst: int = 100
    # TLS on a second listener (the local stack's self-signed certificate); empty: none.
    tls_listen: str = ""
    tls_certificate: Path | None = None
    tls_certificate_key: Path | None = None


def render_nginx_conf(site: NginxSite, *, require_portal_build: bool = True) -> str:
    template = string.Template(TEMPLATE.read_text())
    return template.substitute(
        user_directive=site.user_directive,
        forwarded_proto=site.forwarded_proto,
        state_dir=str(site.state_dir),
        listen=site.listen,
        django_upstream=site.django_upstream,
        litellm_upstream=site.litellm_upstream,
        access_log=site.access_log,
        error_log=site.error_log,
        public_routes=nginx_route_map(),
        edge_anonymous_rps=site.edge_anonymous_rps,
        edge_anonymous_burst=site.edge_anonymous_burst,
        edge_address_rps=site.edge_address_rps,
        edge_address_burst=site.edge_address_burst,
        export_connections=site.export_connections,
        edge_auth_rps=site.edge_auth_rps,
        edge_auth_burst=site.edge_auth_burst,
        tls_directives=tls_directives(site),
        portal_locations=nginx_portal_locations(site.portal_dist, require_build=require_portal_build),
    )


def tls_directives(site: NginxSite) -> str:
    if not site.tls_listen:
        return ""
    return f"""        listen {site.tls_listen} ssl;
        ssl_certificate {site.tls_certificate};
        ssl_certificate_key {site.tls_certificate_key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:tls:1m;"""


# The portal's pages: only its own scripts, its API on this origin, never framed. (React sets
# styles through the DOM, which style-src does not govern; 'unsafe-inline' there covers libraries
# that write style attributes.)
PORTAL_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PORTAL_SECURITY_HEADERS = f"""add_header Content-Security-Policy "{PORTAL_CSP}" always;
            add_header X-Frame-Options DENY always;
            add_header Referrer-Policy strict-origin-when-cross-origin always;
            add_header X-Content-Type-Options nosniff always;
            add_header Strict-Transport-Security $llmaas_hsts always;"""


def nginx_route_map() -> str:
    """The entries of nginx's ``$llmaas_public_route`` map: routes.py's (method, path) pairs."""
    exact = [f'        "{method} {path}" 1;' for method, path in sorted(PUBLIC_ROUTES)]
    model = f'        "~^GET {MODEL_ROUTE_PREFIX}{MODEL_ID_CHARS}$" 1;'
    return "\n".join([*exact, model])


def nginx_portal_locations(dist: Path, *, require_build: bool = True) -> str:
    """nginx locations serving the built portal: hashed assets cached for a year, index.html
    (never cached, so a new build shows at once) for the SPA's routes; empty without a build
    (unless ``require_build`` is off: an image renders before it copies the build in)."""
    if require_build and not (dist / "index.html").is_file():
        return ""
    routes = "|".join(PORTAL_ROUTES)
    index = f"""root {dist};
            default_type text/html;
            try_files /index.html =404;
            add_header Cache-Control "no-cache" always;
            {PORTAL_SECURITY_HEADERS}"""
    return f"""        # The portal (frontend/dist).
        location ^~ /assets/ {{
            root {dist};
            types {{
                application/javascript js mjs;
                text/css css;
                application/json json map;
                image/svg+xml svg;
                image/png png;
                image/x-icon ico;
                font/woff2 woff2;
            }}
            default_type application/octet-stream;
            gzip on;
            gzip_vary on;
            gzip_types application/javascript text/css application/json image/svg+xml;
            add_header Cache-Control "public, max-age=31536000, immutable";
            add_header X-Content-Type-Options nosniff always;
            add_header Strict-Transport-Security $llmaas_hsts always;
            try_files $uri =404;
        }}
        location = / {{
            {index}
        }}
        location ~ ^/({routes})(/|$) {{
            {index}
        }}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light); bin/dev and bin/test install it")
    return found


def main(argv: list[str] | None = None) -> int:
    """Renders the edge image's nginx.conf: upstreams are service names, logs go to stdout/stderr."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m stack.nginx", description=main.__doc__)
    parser.add_argument("--out", required=True, type=Path)
    state_dir = Path(env("LLMAAS_NGINX_STATE_DIR", "/var/cache/llmaas-nginx"))
    parser.add_argument("--state-dir", type=Path, default=state_dir)
    parser.add_argument("--listen", default=env("LLMAAS_NGINX_LISTEN", "8080"))
    parser.add_argument("--django", default=env("LLMAAS_NGINX_DJANGO", "web:8001"))
    parser.add_argument("--litellm", default=env("LLMAAS_NGINX_LITELLM", "litellm:4000"))
    parser.add_argument("--portal-dist", type=Path, default=Path("/usr/share/llmaas/portal"))
    parser.add_argument("--export-connections", type=int, default=4)
    parser.add_argument(
        "--own-scheme",
        action="store_true",
        help="tell Django this nginx's own scheme (default: the X-Forwarded-Proto of the TLS-terminating ingress)",
    )
    args = parser.parse_args(argv)
    site = NginxSite(
        state_dir=args.state_dir,
        listen=args.listen,
        django_upstream=args.django,
        litellm_upstream=args.litellm,
        portal_dist=args.portal_dist,
        access_log="/dev/stdout",
        error_log="/dev/stderr",
        export_connections=args.export_connections,
        forwarded_proto="$scheme" if args.own_scheme else "$http_x_forwarded_proto",
    )
    # The image copies the portal's build in beside the rendered file: render its locations anyway.
    args.out.write_text(render_nginx_conf(site, require_portal_build=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
