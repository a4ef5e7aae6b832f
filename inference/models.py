"""The fleet catalog: backends (inference servers) and the model deployments they serve under
public model names, with aliases. PostgreSQL is the source of truth; the routable part is
published to Redis (publishing.py) and each LiteLLM worker applies it live (router_sync.py)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from inference.placement import Claim, claim_of, gpu_list, placement_errors
from inference.proxy.contract import (
    MODE_CHAT,
    MODE_EMBEDDING,
    PROFILE_LONG_CONTEXT,
    PROFILE_THROUGHPUT,
)
from inference.proxy.schedule import OVERRIDE_AVAILABLE, OVERRIDE_UNAVAILABLE, ScheduleError, parse_days

MODEL_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
    "Letters, digits and . _ : - only, starting with a letter or digit (at most 100 characters).",
)
ENV_NAME_VALIDATOR = RegexValidator(r"^[A-Z_][A-Z0-9_]*$", "An environment variable name, e.g. VLLM_API_KEY.")
GPU_IDS_VALIDATOR = RegexValidator(r"^(\d+(,\d+)*)?$", "GPU indexes separated by commas, e.g. 0,1.")
# Not URLValidator: backends live on single-label hosts (http://gpu-1:8000/v1) it refuses.
BACKEND_URL_VALIDATOR = RegexValidator(
    r"^https?://[A-Za-z0-9._~%-]+(:\d{1,5})?(/[^\s?#]*)?$",
    "An http(s) base URL without query or fragment, e.g. http://gpu-1:8000/v1.",
)
PRICE_VALIDATORS = [MinValueValidator(Decimal("0"))]
FRACTION_VALIDATORS = [MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("1"))]
HOST_NAME_VALIDATOR = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", "A host name, e.g. gpu-1.")


class GpuHost(models.Model):
    """A machine with GPUs, for placement (placement.py): backends whose ``host`` names it are
    checked against its GPU count and per-GPU memory."""

    name = models.CharField(max_length=255, unique=True, validators=[HOST_NAME_VALIDATOR])
    gpu_count = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    gpu_memory_gib = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Memory of each GPU, GiB (e.g. 80 for an H100).",
    )
    node_selector = models.JSONField(
        default=dict, blank=True, help_text='Kubernetes node labels that select this host, e.g. {"gpu": "h100"}.'
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "GPU host"

    def __str__(self) -> str:
        return f"{self.name} ({self.gpu_count} × {self.gpu_memory_gib} GiB)"


class Backend(models.Model):
    """An OpenAI-compatible inference server (one process on one host, pinned to some GPUs)."""

    class Kind(models.TextChoices):
        LLAMACPP = "llamacpp", "llama.cpp (llama-server)"
        OLLAMA = "ollama", "Ollama"
        VLLM = "vllm", "vLLM"
        SGLANG = "sglang", "SGLang"
        OPENAI_COMPATIBLE = "openai-compatible", "OpenAI-compatible"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Not probed yet"
        HEALTHY = "healthy", "Healthy"
        UNHEALTHY = "unhealthy", "Unhealthy"

    class RunState(models.TextChoices):
        STOPPED = "stopped", "Stopped"
        STARTING = "starting", "Starting"
        RUNNING = "running", "Running"
        STOPPING = "stopping", "Stopping"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=100, unique=True, validators=[MODEL_NAME_VALIDATOR])
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OPENAI_COMPATIBLE)
    base_url = models.CharField(
        max_length=300,
        validators=[BACKEND_URL_VALIDATOR],
        help_text="OpenAI-compatible base URL, e.g. http://gpu-1:8000/v1",
    )
    host = models.CharField(max_length=255, blank=True, help_text="The machine it runs on (informational).")
    gpu_ids = models.CharField(
        max_length=100, blank=True, validators=[GPU_IDS_VALIDATOR], help_text="GPUs it is pinned to, e.g. 0,1."
    )
    upstream_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[ENV_NAME_VALIDATOR],
        help_text="Name of the environment variable that holds the backend's API key (never the key itself).",
    )
    probe = models.BooleanField(
        default=True, help_text="Probe its health (beat); off: always routable (e.g. a backend with no health route)."
    )
    hourly_cost_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal("0"),
        validators=PRICE_VALIDATORS,
        help_text="What the backend (all its GPUs) costs per hour, USD: spread over the calls it serves as GPU-seconds "
        "and an internal cost beside the list price (usage/gpu_cost.py).",
    )
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_error = models.CharField(max_length=500, blank=True)
    # Placement and lifecycle (placement.py, lifecycle/): a managed backend's process is launched
    # and stopped by the fleet agent on its host.
    managed = models.BooleanField(
        default=False,
        help_text="Managed locally: the fleet agent starts its process on demand and stops it when idle.",
    )
    launch_model = models.CharField(
        max_length=500, blank=True, help_text="What the process serves: a GGUF path (llama.cpp), a model id (vLLM)."
    )
    launch_args = models.JSONField(
        default=list, blank=True, help_text='Extra command-line arguments, a JSON list, e.g. ["--ctx-size", "4096"].'
    )
    tensor_parallel_size = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    gpu_memory_fraction = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=FRACTION_VALIDATORS,
        help_text="Share of each GPU's memory it may take (vLLM --gpu-memory-utilization).",
    )
    gpu_memory_gib = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Or the memory it takes on each GPU, GiB (wins over the fraction).",
    )
    parallel = models.PositiveIntegerField(
        default=4,
        validators=[MinValueValidator(1)],
        help_text="Requests the process serves at once (llama.cpp --parallel, vLLM --max-num-seqs); halved after "
        "a GPU out-of-memory.",
    )
    start_timeout_seconds = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(1)], help_text="How long a start may take before it failed."
    )
    idle_ttl_seconds = models.PositiveIntegerField(
        default=600, help_text="Stopped after this long without requests (0: never stopped)."
    )
    run_state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.STOPPED)
    run_state_at = models.DateTimeField(null=True, blank=True)
    run_error = models.CharField(max_length=500, blank=True)
    # Failed starts in a row (a start that timed out or whose process exited before it was ready),
    # and the time before which the fleet agent does not try again (lifecycle/agent.py): a broken
    # launch is retried with a doubling pause, not by every call that finds it stopped.
    start_failures = models.PositiveIntegerField(default=0)
    start_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.managed and self.kind not in (self.Kind.LLAMACPP, self.Kind.VLLM, self.Kind.SGLANG):
            kind = self.get_kind_display()
            raise ValidationError({"managed": f"A {kind} backend is not launched by the fleet agent."})
        if self.managed and not self.launch_model:
            raise ValidationError({"launch_model": "A managed backend needs the model its process serves."})
        if self.gpu_memory_fraction is not None and self.gpu_memory_gib is not None:
            raise ValidationError({"gpu_memory_gib": "Give the memory in GiB or as a fraction, not both."})
        if not self.gpu_ids:
            return
        host = GpuHost.objects.filter(name=self.host).first() if self.host else None
        if host is None:
            if self.managed and (self.gpu_memory_fraction is not None or self.gpu_memory_gib is not None):
                raise ValidationError({"host": "Register this host as a GPU host to place GPU memory on it."})
            return
        errors = placement_errors(
            self.placement_claim(host.gpu_memory_gib),
            [
                b.placement_claim(host.gpu_memory_gib)
                for b in Backend.objects.filter(host=self.host).exclude(gpu_ids="").exclude(pk=self.pk)
            ],
            host=host.name,
            gpu_count=host.gpu_count,
            capacity_gib=host.gpu_memory_gib,
            tensor_parallel_size=self.tensor_parallel_size,
        )
        if errors:
            raise ValidationError(errors)

    def placement_claim(self, capacity_gib: Decimal) -> Claim:
        return claim_of(
            self.name,
            self.gpu_ids,
            gpu_memory_gib=self.gpu_memory_gib,
            gpu_memory_fraction=self.gpu_memory_fraction,
            capacity_gib=capacity_gib,
        )

    @property
    def gpus(self) -> tuple[int, ...]:
        return gpu_list(self.gpu_ids)

    @property
    def routable(self) -> bool:
        """Unknown counts as up: a new backend serves at once, the first failed probe takes it out."""
        return self.health != self.Health.UNHEALTHY

    @property
    def gpu_count(self) -> int:
        """GPUs it is pinned to (1 when none is named: a CPU or a remote server counts as one)."""
        return len(self.gpu_ids.split(",")) if self.gpu_ids else 1


class BackendHealthCheck(models.Model):
    """One probe of a backend (the history behind Backend.health; old rows are pruned)."""

    backend = models.ForeignKey(Backend, on_delete=models.CASCADE, related_name="health_checks")
    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["backend", "-checked_at"])]

    def __str__(self) -> str:
        return f"{self.backend} {'ok' if self.ok else 'failed'} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class ModelDeployment(models.Model):
    """A model served by one backend under a public model name; several deployments may share a
    public name (routing picks one per request by profile, window and load)."""

    class Profile(models.TextChoices):
        THROUGHPUT = PROFILE_THROUGHPUT, "Throughput"
        LONG_CONTEXT = PROFILE_LONG_CONTEXT, "Long context"

    class Mode(models.TextChoices):
        CHAT = MODE_CHAT, "Chat / completions"
        EMBEDDING = MODE_EMBEDDING, "Embeddings"

    class AvailabilityOverride(models.TextChoices):
        NONE = "", "Follow its windows"
        AVAILABLE = OVERRIDE_AVAILABLE, "Force available"
        UNAVAILABLE = OVERRIDE_UNAVAILABLE, "Force unavailable"

    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[MODEL_NAME_VALIDATOR],
        help_text="The deployment's own id (recorded in request logs as deployment_id).",
    )
    public_name = models.CharField(
        max_length=100, validators=[MODEL_NAME_VALIDATOR], db_index=True, help_text="The model name clients send."
    )
    backend = models.ForeignKey(Backend, on_delete=models.PROTECT, related_name="deployments")
    upstream_model = models.CharField(max_length=200, help_text="The model id the backend knows.")
    digest = models.CharField(max_length=200, blank=True, help_text="Weights digest or quantization, e.g. Q4_1.")
    context_window = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    max_concurrency = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Requests in flight at most, across every proxy worker (empty: unlimited).",
    )
    queue_timeout_seconds = models.PositiveIntegerField(
        default=0,
        help_text="When every deployment of the model is at its max concurrency, a call waits this long for a slot "
        "before its 503 (0: at once).",
    )
    routing_profile = models.CharField(max_length=20, choices=Profile.choices, default=Profile.THROUGHPUT)
    input_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), validators=PRICE_VALIDATORS
    )
    output_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), validators=PRICE_VALIDATORS
    )
    max_output_tokens = models.PositiveIntegerField(
        default=1024,
        validators=[MinValueValidator(1)],
        help_text="Assumed completion length when a request sets no max_tokens (sizes the budget reservation).",
    )
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.CHAT)
    # The last pull of its model onto an Ollama backend (inference/drivers/ollama.py): status,
    # completed and total bytes, digest, error, at. Written while the pull streams.
    pull_progress = models.JSONField(default=dict, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    # Availability in time (proxy/schedule.py): its windows, unless an operator's override holds.
    availability_override = models.CharField(
        max_length=12,
        choices=AvailabilityOverride.choices,
        blank=True,
        help_text="Force the deployment available or unavailable (until the time below, or until cleared).",
    )
    override_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["public_name", "name"]

    def __str__(self) -> str:
        return self.name if self.name == self.public_name else f"{self.public_name} ({self.name})"

    def clean(self) -> None:
        if self.public_name and ModelAlias.objects.filter(name=self.public_name).exists():
            raise ValidationError({"public_name": "An alias already has this name."})
        # One public model has one mode: a chat and an embedding model never share a name.
        other = (
            ModelDeployment.objects.filter(public_name=self.public_name).exclude(pk=self.pk).exclude(mode=self.mode)
        ).first()
        if other is not None:
            raise ValidationError({"mode": f"{self.public_name!r} is served in mode {other.mode!r} by {other.name!r}."})


class ModelAlias(models.Model):
    """Another name clients may call a public model by."""

    name = models.CharField(max_length=100, unique=True, validators=[MODEL_NAME_VALIDATOR])
    public_name = models.CharField(max_length=100, validators=[MODEL_NAME_VALIDATOR], help_text="The model it names.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return f"{self.name} → {self.public_name}"

    def clean(self) -> None:
        if ModelDeployment.objects.filter(public_name=self.name).exists():
            raise ValidationError({"name": "A model already has this public name."})


def validate_days(value: str) -> None:
    try:
        parse_days(value)
    except ScheduleError as exc:
        raise ValidationError(str(exc)) from None


class AvailabilityWindow(models.Model):
    """A weekly window in which a deployment serves, in the operator's time zone
    (``LLMAAS_SCHEDULE_TIME_ZONE``). A deployment with none is always available; an end at or
    before the start runs past midnight (``mon-fri 22:00-06:00``: each weeknight)."""

    deployment = models.ForeignKey(ModelDeployment, on_delete=models.CASCADE, related_name="windows")
    days = models.CharField(
        max_length=60, validators=[validate_days], help_text="Days it opens: mon-fri, sat,sun, fri-mon or *."
    )
    start = models.TimeField()
    end = models.TimeField(help_text="At or before the start: the next day's.")

    class Meta:
        ordering = ["deployment", "start"]

    def __str__(self) -> str:
        return f"{self.days} {self.start:%H:%M}-{self.end:%H:%M}"
