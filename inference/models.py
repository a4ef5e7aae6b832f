from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

MODEL_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
    "Letters, digits and . _ : - only, starting with a letter or digit (at most 100 characters).",
)
ENV_NAME_VALIDATOR = RegexValidator(r"^[A-Z_][A-Z0-9_]*$", "An environment variable name, e.g. VLLM_API_KEY.")


class ServedModel(models.Model):
    """A model the platform serves under a public name, and the backend that serves it."""

    name = models.CharField(max_length=100, unique=True, validators=[MODEL_NAME_VALIDATOR])
    backend_url = models.URLField(help_text="OpenAI-compatible base URL, e.g. http://gpu-1:8000/v1")
    upstream_model = models.CharField(max_length=200, help_text="The model id the backend knows.")
    upstream_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[ENV_NAME_VALIDATOR],
        help_text="Name of the environment variable that holds the backend's API key (never the key itself).",
    )
    context_window = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    input_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    output_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    max_output_tokens = models.PositiveIntegerField(
        default=1024,
        validators=[MinValueValidator(1)],
        help_text="Assumed completion length when a request sets no max_tokens (sizes the budget reservation).",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
