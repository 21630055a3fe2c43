"""The training, mentoring and onboarding pages."""

from django.urls import path

from coaching import views_training as views

urlpatterns = [
    path("coaching/training/", views.training_page, name="training"),
    path("coaching/training/assign/", views.training_assign, name="training-assign"),
    path(
        "coaching/training/assignments/<int:assignment_id>/complete/",
        views.assignment_done,
        name="training-complete",
    ),
    path("coaching/mentorships/", views.mentorships_page, name="mentorships"),
    path("coaching/mentorships/new/", views.mentorship_add, name="mentorship-add"),
    path("coaching/mentorships/<int:mentorship_id>/", views.mentorship_page, name="mentorship"),
    path(
        "coaching/mentorships/<int:mentorship_id>/meetings/",
        views.mentor_meeting_add,
        name="mentor-meeting-add",
    ),
    path(
        "coaching/mentorships/<int:mentorship_id>/end/",
        views.mentorship_stop,
        name="mentorship-end",
    ),
    path("coaching/onboarding/start/", views.onboarding_begin, name="onboarding-start"),
    path("coaching/onboarding/<int:person_id>/", views.onboarding_page, name="onboarding"),
    path(
        "coaching/onboarding/<int:person_id>/steps/<int:progress_id>/",
        views.onboarding_tick,
        name="onboarding-tick",
    ),
    path("home/training/", views.home_training, name="home-training"),
]
