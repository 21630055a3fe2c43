"""Static files under content-hashed names, compressed, in every mode."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's compressed manifest storage whose URLs carry the hash even with DEBUG on.

    Django would name the plain file under DEBUG; the hashed name is what lets
    WhiteNoise cache a file for a year, so every mode gets it.
    """

    def url(self, name, force=False):
        return super().url(name, force=True)
