"""The consent form: DOT's (allow + the authorization request in hidden fields), plus, when the app
asks for the ``inference`` scope, the key the user gives it: organization, models, budget."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from oauth2_provider.forms import AllowForm

from accounts.models import User
from llmaas.errors import ApplicationError
from oauth import inference_keys


class ConsentForm(AllowForm):
    organization = forms.CharField(required=False, max_length=64)
    models = forms.MultipleChoiceField(required=False)
    budget_usd = forms.DecimalField(required=False, max_digits=14, decimal_places=6)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        scope = self.data.get("scope") if self.is_bound else self.initial.get("scope")
        asked = inference_keys.asks_for_inference(str(scope or ""))
        self.options = inference_keys.key_request_options(user=user) if asked else []
        names = sorted({m for option in self.options for m in option.models})
        self.fields["models"].choices = [(name, name) for name in names]
        self.key_request: inference_keys.KeyRequestChoice | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or not data.get("allow") or not inference_keys.asks_for_inference(data.get("scope") or ""):
            return data
        budget = data.get("budget_usd")
        if budget is None:
            self.add_error("budget_usd", "Set a budget in USD.")
            return data
        try:
            self.key_request = inference_keys.key_request_check(
                user=self.user,
                organization_id=data.get("organization") or "",
                models=data.get("models") or [],
                budget_usd=Decimal(budget),
            )
        except ApplicationError as exc:
            field = exc.details.get("field") if isinstance(exc.details, dict) else None
            self.add_error(field if field in self.fields else None, exc.message)
        return data
