"""Hiring: open positions in a manager's team, the applicants for each on a board of stages, and the
hiring manager's interview notes and scorecards (seen by that manager and admins only)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# A scorecard rates each competency from 1 (weak) to 5 (outstanding).
RATING_MIN, RATING_MAX = 1, 5
# The default ramp: a new rep's monthly quota is this share of the team's standard quota, month by month.
DEFAULT_RAMP = "25,50,75,100"


class PositionStatus(models.TextChoices):
    OPEN = "open", "Open"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"


class ApplicantStage(models.TextChoices):
    APPLIED = "applied", "Applied"
    SCREEN = "screen", "Screen"
    INTERVIEW = "interview", "Interview"
    OFFER = "offer", "Offer"
    HIRED = "hired", "Hired"
    REJECTED = "rejected", "Rejected"


# The stages an applicant is still in the running in; hired and rejected are final.
OPEN_STAGES = (
    ApplicantStage.APPLIED,
    ApplicantStage.SCREEN,
    ApplicantStage.INTERVIEW,
    ApplicantStage.OFFER,
)


class RejectionReason(models.TextChoices):
    NOT_QUALIFIED = "not_qualified", "Not qualified"
    CULTURE = "culture", "Not a fit for the team"
    COMPENSATION = "compensation", "Compensation expectations"
    WITHDREW = "withdrew", "Withdrew"
    OFFER_DECLINED = "offer_declined", "Declined the offer"
    POSITION_CLOSED = "position_closed", "Position closed"
    OTHER = "other", "Other"


class Competency(models.TextChoices):
    PROSPECTING = "prospecting", "Prospecting"
    DISCOVERY = "discovery", "Discovery"
    PRESENTING = "presenting", "Presenting"
    NEGOTIATION = "negotiation", "Negotiation"
    CLOSING = "closing", "Closing"
    COACHABILITY = "coachability", "Coachability"


class Recommendation(models.TextChoices):
    STRONG_YES = "strong_yes", "Strong yes"
    YES = "yes", "Yes"
    NO = "no", "No"
    STRONG_NO = "strong_no", "Strong no"


class Position(models.Model):
    """A seat to fill in ``manager``'s team (the hiring manager), in a territory, from a start date."""

    title = models.CharField(max_length=120)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="positions"
    )
    territory = models.ForeignKey(
        "quotas.Territory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    start_wanted = models.DateField()
    status = models.CharField(
        max_length=10, choices=PositionStatus.choices, default=PositionStatus.OPEN, db_index=True
    )
    monthly_quota = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The full monthly quota of the new rep; empty: the team's standard per-rep quota.",
    )
    ramp = models.CharField(
        max_length=80,
        default=DEFAULT_RAMP,
        help_text="The new rep's quota as percentages of the full quota over their first months.",
    )
    filled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["start_wanted", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_quota__isnull=True) | Q(monthly_quota__gte=0),
                name="position_quota_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    @property
    def ramp_percentages(self) -> list[int]:
        return [int(part) for part in self.ramp.split(",") if part.strip()]


class Applicant(models.Model):
    """A candidate for a position, moving through the hiring stages; ``version`` guards board moves."""

    position = models.ForeignKey(Position, on_delete=models.CASCADE, related_name="applicants")
    full_name = models.CharField(max_length=150)
    email = models.EmailField(blank=True)
    source = models.CharField(max_length=80, blank=True, help_text="Referral, job board, ...")
    stage = models.CharField(
        max_length=10, choices=ApplicantStage.choices, default=ApplicantStage.APPLIED
    )
    rejection_reason = models.CharField(max_length=20, choices=RejectionReason.choices, blank=True)
    version = models.PositiveIntegerField(default=1)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    hired_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="hired_as",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-stage_changed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(stage=ApplicantStage.REJECTED) | ~Q(rejection_reason=""),
                name="applicant_rejected_with_reason",
            ),
        ]
        indexes = [models.Index(fields=["position", "stage"], name="applicant_position_stage_idx")]

    def __str__(self) -> str:
        return self.full_name


class InterviewNote(models.Model):
    """What the hiring manager (or an admin) noted about an applicant at an interview."""

    applicant = models.ForeignKey(Applicant, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.CharField(max_length=10, choices=ApplicantStage.choices)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Note {self.pk} on applicant {self.applicant_id}"


class Scorecard(models.Model):
    """An interviewer's ratings of an applicant, competency by competency, and a recommendation."""

    applicant = models.ForeignKey(Applicant, on_delete=models.CASCADE, related_name="scorecards")
    interviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recommendation = models.CharField(max_length=12, choices=Recommendation.choices)
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Scorecard {self.pk} on applicant {self.applicant_id}"


class CompetencyRating(models.Model):
    """One line of a scorecard: a competency rated 1-5."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="ratings")
    competency = models.CharField(max_length=16, choices=Competency.choices)
    rating = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["scorecard_id", "competency"]
        constraints = [
            models.UniqueConstraint(
                fields=["scorecard", "competency"], name="competency_rated_once_per_scorecard"
            ),
            models.CheckConstraint(
                condition=Q(rating__gte=RATING_MIN, rating__lte=RATING_MAX),
                name="competency_rating_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_competency_display()}: {self.rating}"
