"""The authorization server's pages (Django-rendered, under /o/): log in, sign up, consent.

They apply the same account rules as the REST API (`accounts.user_services`): throttled log-in,
sign-up with verification and allowed domains, pending approval.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from accounts import user_services
from llmaas.errors import ApplicationError

MAX_PASSWORD = 4096


class LoginForm(forms.Form):
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=MAX_PASSWORD, strip=False, widget=forms.PasswordInput)


class SignupForm(forms.Form):
    name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=MAX_PASSWORD, strip=False, widget=forms.PasswordInput)


def _next_url(request: HttpRequest) -> str:
    """Where to go after logging in: a local URL only (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return settings.LOGIN_REDIRECT_URL


def _sso_context() -> dict[str, Any]:
    """The login page's "Log in with <provider>" link (oauth/sso.py), when SSO is set up."""
    return {"sso_enabled": bool(settings.SSO_ISSUER), "sso_name": settings.SSO_NAME}


class LoginView(View):
    template = "oauth/login.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template, {"form": LoginForm(), "next": _next_url(request), **_sso_context()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = LoginForm(request.POST)
        context: dict[str, Any] = {"form": form, "next": _next_url(request), **_sso_context()}
        if not form.is_valid():
            return render(request, self.template, context, status=400)
        try:
            user_services.user_log_in(request=request, **form.cleaned_data)
        except ApplicationError as exc:
            context["error"] = exc.message
            response = render(request, self.template, context, status=exc.status_code)
            for name, value in exc.headers.items():
                response[name] = value
            return response
        return HttpResponseRedirect(context["next"])


class SignupView(View):
    template = "oauth/signup.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template, {"form": SignupForm(), "next": _next_url(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SignupForm(request.POST)
        context: dict[str, Any] = {"form": form, "next": _next_url(request)}
        if not form.is_valid():
            return render(request, self.template, context, status=400)
        try:
            user_services.user_sign_up(**form.cleaned_data)
        except ApplicationError as exc:
            context["error"] = exc.message
            if isinstance(exc.details, dict):
                context["problems"] = [
                    str(p) for v in exc.details.values() for p in (v if isinstance(v, list) else [v])
                ]
            return render(request, self.template, context, status=exc.status_code)
        context["done"] = True
        return render(request, self.template, context, status=202)


class AuthorizeView(AuthorizationView):
    """DOT's authorization endpoint with our consent page, and PKCE with S256 only (a ``plain``
    or missing challenge method is refused before the user is asked anything)."""

    template_name = "oauth/authorize.html"

    def validate_authorization_request(self, request: HttpRequest) -> tuple[list[str], dict[str, Any]]:
        scopes, credentials = super().validate_authorization_request(request)
        if credentials.get("code_challenge_method") != "S256":
            error = CustomOAuth2Error(
                error="invalid_request",
                description="PKCE is required with code_challenge_method=S256.",
                state=credentials.get("state"),
            )
            raise OAuthToolkitError(error=error, redirect_uri=credentials.get("redirect_uri"))
        return scopes, credentials
