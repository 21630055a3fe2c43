"""Serializer fields the API shares."""

from rest_framework import serializers

from salesmgr.values import DAY_RANGE_TEXT, day_in_range


class DateField(serializers.DateField):
    """A calendar date inside the range figures can span (``salesmgr.values``): a 400 naming the field beyond it."""

    default_error_messages = {"out_of_range": DAY_RANGE_TEXT}

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not day_in_range(day):
            self.fail("out_of_range")
        return day
