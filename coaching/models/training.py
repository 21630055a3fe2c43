"""Training and mentorship: the course catalogue, who is assigned what, mentor pairings and onboarding.

Tables and their invariants only; every write goes through ``coaching.services.training``.
A certification (or any course with ``valid_for_days``) expires that many days
after it is completed; renewing it opens a new assignment and keeps the old
one as history.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class CourseKind(models.TextChoices):
    COURSE = "course", "Course"
    CERTIFICATION = "certification", "Certification"


class Course(models.Model):
    """An entry of the catalogue admins keep; ``required`` ones show on every person's row of the matrix."""

    title = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=CourseKind.choices, default=CourseKind.COURSE)
    valid_for_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days a completion stays valid; empty: it never expires."
    )
    required = models.BooleanField(default=False, help_text="Everyone in sales must complete it.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_for_days__isnull=True) | Q(valid_for_days__gte=1),
                name="course_valid_for_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Assignment(models.Model):
    """A course a manager asked one person to complete by ``due_on``; open until ``completed_on``."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="assignments")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="course_assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_on = models.DateField()
    due_on = models.DateField()
    completed_on = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["course", "person"],
                condition=Q(completed_on__isnull=True),
                name="assignment_one_open_per_course",
                violation_error_message="This person already has this course to complete.",
            ),
            models.CheckConstraint(
                condition=Q(due_on__gte=F("assigned_on")), name="assignment_due_after_assigned"
            ),
            models.CheckConstraint(
                condition=Q(completed_on__isnull=True) | Q(completed_on__gte=F("assigned_on")),
                name="assignment_completed_after_assigned",
            ),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True)
                | Q(completed_on__isnull=False, expires_on__gt=F("completed_on")),
                name="assignment_expires_after_completion",
            ),
        ]
        indexes = [
            models.Index(fields=["person", "course"], name="assignment_person_course_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.course_id} for {self.person_id} by {self.due_on}"


class Mentorship(models.Model):
    """A senior rep mentoring a newer one; a mentee has at most one mentor at a time."""

    mentor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentoring"
    )
    mentee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentored_by"
    )
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    goals = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_on", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(mentor=F("mentee")), name="mentorship_two_people"),
            models.UniqueConstraint(
                fields=["mentee"],
                condition=Q(ended_on__isnull=True),
                name="mentorship_one_active_per_mentee",
                violation_error_message="This person already has a mentor.",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="mentorship_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mentor_id} mentors {self.mentee_id}"

    @property
    def active(self) -> bool:
        return self.ended_on is None


class MentorMeeting(models.Model):
    """One meeting of a mentor pairing and what was discussed."""

    mentorship = models.ForeignKey(Mentorship, on_delete=models.CASCADE, related_name="meetings")
    held_on = models.DateField()
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-held_on", "-id"]

    def __str__(self) -> str:
        return f"Mentor meeting {self.mentorship_id} on {self.held_on}"


class OnboardingStep(models.Model):
    """One step of the new-rep checklist, in order; due ``due_after_days`` after the rep starts."""

    position = models.PositiveSmallIntegerField(unique=True)
    title = models.CharField(max_length=200)
    due_after_days = models.PositiveSmallIntegerField(default=14)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class Onboarding(models.Model):
    """A new rep's checklist, started once per person; its steps' progress lives in ``OnboardingProgress``."""

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="onboarding"
    )
    started_on = models.DateField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Onboarding of {self.person_id} from {self.started_on}"


class OnboardingProgress(models.Model):
    """One step of one rep's checklist: open, or done on a day and ticked by someone."""

    onboarding = models.ForeignKey(Onboarding, on_delete=models.CASCADE, related_name="progress")
    step = models.ForeignKey(OnboardingStep, on_delete=models.CASCADE, related_name="+")
    due_on = models.DateField()
    done_on = models.DateField(null=True, blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["onboarding_id", "step__position", "id"]
        verbose_name_plural = "onboarding progress"
        constraints = [
            models.UniqueConstraint(fields=["onboarding", "step"], name="onboarding_step_once"),
        ]

    def __str__(self) -> str:
        return f"Step {self.step_id} of onboarding {self.onboarding_id}"
