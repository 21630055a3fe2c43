"""The REST API: shared machinery (base), people and sign-in (people)."""
