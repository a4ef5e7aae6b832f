"""REST API of the billing app, scoped to the current organization (``LLMaaS-Organization``):
owners, admins and the billing role read and manage billing; other roles get 403.

GET /api/billing/balance, GET /api/billing/ledger (cursor pages), GET /api/billing/ledger/export
(CSV, JSON, NDJSON), GET|PUT /api/billing/plan, GET /api/billing/invoices,
POST /api/billing/topup (a Stripe Checkout session), POST /api/billing/subscription,
POST /api/billing/redeem.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import OrgContext, org_context
from accounts.roles import Action
from billing.models import BillingAccount, LedgerEntry, Plan
from billing.selectors import balance_get, invoices_list, ledger_export_sql, ledger_list
from billing.services import (
    billing_account_get,
    code_redeem,
    plan_set,
    subscription_session_create,
    topup_session_create,
)
from billing.wallet import wallet_state
from inference.proxy.contract import NANO_PER_USD
from llmaas.openapi import cursor_page, cursor_parameters, error_responses
from llmaas.pagination import NewestFirstPagination, paginated
from llmaas.scopes import BILLING
from usage.apis import _EXPORT_RESPONSES as EXPORT_RESPONSES
from usage.apis import ExportApi
from usage.filters import ExportFormatSerializer

TAG = ["billing"]
SCOPES_READ_WRITE = {"GET": BILLING, "PUT": BILLING, "POST": BILLING}


def _context(request: Request, action: Action) -> OrgContext:
    ctx = org_context(request)
    ctx.require(action)
    return ctx


class BalanceApi(APIView):
    required_scopes = {"GET": BILLING}

    class OutputSerializer(serializers.Serializer[Any]):
        balance_usd = serializers.DecimalField(max_digits=24, decimal_places=10)
        plan = serializers.CharField()
        available_usd = serializers.DecimalField(max_digits=24, decimal_places=10, allow_null=True)
        reserved_usd = serializers.DecimalField(max_digits=24, decimal_places=10, allow_null=True)

    @extend_schema(
        tags=TAG,
        summary="Prepaid balance",
        description="The ledger's balance (every top-up, refund, code, adjustment and posted usage), and "
        "for a prepaid organization what admission sees now (calls settled but not yet posted, "
        "reservations in flight).",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_VIEW)
        account = billing_account_get(organization=ctx.organization)
        wallet = wallet_state(ctx.organization.id) if account.plan == Plan.PREPAID else None
        nano = Decimal(NANO_PER_USD)  # Redis holds integers: money stays Decimal
        body = {
            "balance_usd": balance_get(organization=ctx.organization),
            "plan": account.plan,
            "available_usd": None
            if wallet is None
            else Decimal(wallet.get("credit", 0) - wallet.get("spent", 0) - wallet.get("reserved", 0)) / nano,
            "reserved_usd": None if wallet is None else Decimal(wallet.get("reserved", 0)) / nano,
        }
        return Response(self.OutputSerializer(body).data)


class LedgerEntrySerializer(serializers.ModelSerializer[LedgerEntry]):
    amount_usd = serializers.DecimalField(source="amount", max_digits=20, decimal_places=10)

    class Meta:
        model = LedgerEntry
        fields = ["id", "created_at", "kind", "amount_usd", "memo", "reference"]


class LedgerPagination(NewestFirstPagination):
    page_size = 100
    max_page_size = 1000


class LedgerApi(APIView):
    required_scopes = {"GET": BILLING}

    @extend_schema(
        tags=TAG,
        summary="Ledger entries",
        description="Every movement of the organization's money, newest first (cursor-paginated).",
        parameters=cursor_parameters(LedgerPagination),
        responses={200: cursor_page(LedgerEntrySerializer, "LedgerPage"), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_VIEW)
        return paginated(
            self, request, ledger_list(organization=ctx.organization), LedgerEntrySerializer, LedgerPagination
        )


class _NoFilters(serializers.Serializer[Any]):
    pass


@extend_schema_view(
    get=extend_schema(
        tags=TAG,
        summary="Export the ledger",
        description="Every ledger entry, oldest first (CSV, JSON or NDJSON: ?format=).",
        parameters=[ExportFormatSerializer],
        responses=EXPORT_RESPONSES,
    )
)
class LedgerExportApi(ExportApi):
    required_scopes = {"GET": BILLING}
    kind, query_serializer = "ledger", _NoFilters

    def select(self, ctx: OrgContext, data: dict[str, Any], csv: bool, params: dict[str, Any]) -> str:
        ctx.require(Action.BILLING_VIEW)
        return ledger_export_sql(organization=ctx.organization, params=params, csv=csv)


class PlanSerializer(serializers.ModelSerializer[BillingAccount]):
    class Meta:
        model = BillingAccount
        fields = ["plan", "price_multiplier", "subscription_status", "stripe_customer_id"]


class PlanApi(APIView):
    required_scopes = {"GET": BILLING, "PUT": BILLING}

    class InputSerializer(serializers.Serializer[Any]):
        plan = serializers.ChoiceField(choices=[Plan.FREE, Plan.PREPAID])

    @extend_schema(tags=TAG, summary="Billing plan", responses={200: PlanSerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_VIEW)
        return Response(PlanSerializer(billing_account_get(organization=ctx.organization)).data)

    @extend_schema(
        tags=TAG,
        summary="Change the billing plan",
        description="free or prepaid; pay-as-you-go starts with a subscription (POST /api/billing/subscription).",
        request=InputSerializer,
        responses={200: PlanSerializer, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = plan_set(organization=ctx.organization, plan=data.validated_data["plan"], by=ctx.user)
        return Response(PlanSerializer(account).data)


class InvoiceSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    number = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=20, decimal_places=2)
    amount_due = serializers.DecimalField(max_digits=20, decimal_places=2)
    created = serializers.IntegerField()
    hosted_invoice_url = serializers.CharField()
    invoice_pdf = serializers.CharField()


class InvoicesApi(APIView):
    required_scopes = {"GET": BILLING}

    @extend_schema(
        tags=TAG,
        summary="Invoices",
        description="The organization's Stripe invoices, newest first.",
        responses={
            200: inline_serializer("InvoiceList", {"results": InvoiceSerializer(many=True)}),
            **error_responses(401, 403, 404, 503),
        },
    )
    def get(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_VIEW)
        invoices = invoices_list(account=billing_account_get(organization=ctx.organization))
        return Response({"results": InvoiceSerializer(invoices, many=True).data})


_SESSION = inline_serializer("CheckoutSession", {"id": serializers.CharField(), "url": serializers.CharField()})


class TopupApi(APIView):
    required_scopes = {"POST": BILLING}

    class InputSerializer(serializers.Serializer[Any]):
        amount_usd = serializers.DecimalField(max_digits=12, decimal_places=2)

    @extend_schema(
        tags=TAG,
        summary="Start a top-up",
        description="A Stripe Checkout session for prepaid credit; the balance rises when Stripe reports "
        "the payment (checkout.session.completed), once.",
        request=InputSerializer,
        responses={201: _SESSION, **error_responses(400, 401, 403, 404, 503)},
    )
    def post(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = topup_session_create(
            organization=ctx.organization, amount=data.validated_data["amount_usd"], by=ctx.user
        )
        return Response(session, status=status.HTTP_201_CREATED)


class SubscriptionApi(APIView):
    required_scopes = {"POST": BILLING}

    @extend_schema(
        tags=TAG,
        summary="Subscribe to pay-as-you-go",
        description="A Stripe Checkout session for the metered subscription.",
        request=None,
        responses={201: _SESSION, **error_responses(400, 401, 403, 404, 503)},
    )
    def post(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_MANAGE)
        session = subscription_session_create(organization=ctx.organization, by=ctx.user)
        return Response(session, status=status.HTTP_201_CREATED)


class RedeemApi(APIView):
    required_scopes = {"POST": BILLING}

    class InputSerializer(serializers.Serializer[Any]):
        code = serializers.CharField(max_length=64)

    @extend_schema(
        tags=TAG,
        summary="Redeem a code",
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "Redeemed", {"credited_usd": serializers.DecimalField(max_digits=20, decimal_places=10)}
            ),
            **error_responses(400, 401, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        ctx = _context(request, Action.BILLING_MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = code_redeem(organization=ctx.organization, code=data.validated_data["code"], by=ctx.user)
        return Response({"credited_usd": str(amount)})
