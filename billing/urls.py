from django.urls import path

from billing.apis import (
    BalanceApi,
    InvoicesApi,
    LedgerApi,
    LedgerExportApi,
    PlanApi,
    RedeemApi,
    SubscriptionApi,
    TopupApi,
)
from billing.webhooks import stripe_webhook

urlpatterns = [
    path("balance", BalanceApi.as_view(), name="billing-balance"),
    path("ledger", LedgerApi.as_view(), name="billing-ledger"),
    path("ledger/export", LedgerExportApi.as_view(), name="billing-ledger-export"),
    path("plan", PlanApi.as_view(), name="billing-plan"),
    path("invoices", InvoicesApi.as_view(), name="billing-invoices"),
    path("topup", TopupApi.as_view(), name="billing-topup"),
    path("subscription", SubscriptionApi.as_view(), name="billing-subscription"),
    path("redeem", RedeemApi.as_view(), name="billing-redeem"),
]

stripe_webhook_urlpatterns = [path("stripe", stripe_webhook, name="webhook-stripe")]
