"""Enterprise SSO pages under /o/sso/: send the browser to the upstream provider, and take it back.

Every failure (SSO off, the provider unreachable, a state that does not match, a token that does
not verify, an account that cannot be linked) renders the error page with its status (400, 403,
404, 409 or 502), never a 500; the logic lives in ``oauth.sso``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from oauth import sso


def _local_next(request: HttpRequest, target: Any) -> str:
    """Where to go after logging in: a local URL only (never an open redirect)."""
    if (
        isinstance(target, str)
        and target
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


def _callback_uri() -> str:
    """Registered at the provider: on the public origin (nginx), whatever host Django sees."""
    return f"{settings.PUBLIC_URL}{reverse('oauth2_provider:sso-callback')}"


def _error(request: HttpRequest, exc: sso.SsoError, config: sso.SsoConfig | None) -> HttpResponse:
    context = {"message": exc.message, "code": exc.code, "sso_name": config.name if config else "SSO"}
    return render(request, "oauth/sso_error.html", context, status=exc.status)


def _off() -> sso.SsoError:
    return sso.SsoError("Single sign-on is not set up here.", code="sso_disabled", status=404)


class SsoLoginView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        config = sso.sso_config()
        if config is None:
            return _error(request, _off(), config)
        try:
            url, flow = sso.sso_flow_start(
                config=config, redirect_uri=_callback_uri(), next_url=_local_next(request, request.GET.get("next"))
            )
        except sso.SsoError as exc:
            return _error(request, exc, config)
        request.session[sso.SESSION_KEY] = flow
        return HttpResponseRedirect(url)


class SsoCallbackView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        config = sso.sso_config()
        if config is None:
            return _error(request, _off(), config)
        flow = request.session.pop(sso.SESSION_KEY, None)  # one use, whatever the outcome
        try:
            upstream = sso.sso_flow_finish(
                config=config, flow=flow, params=request.GET.dict(), redirect_uri=_callback_uri()
            )
            sso.sso_log_in(request=request, config=config, upstream=upstream)
        except sso.SsoError as exc:
            return _error(request, exc, config)
        assert flow is not None  # sso_flow_finish refuses a missing flow
        return HttpResponseRedirect(_local_next(request, flow.get("next")))
