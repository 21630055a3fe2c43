"""Authentication backend: the admin role carries every permission of the Django admin."""

from django.contrib.auth.backends import ModelBackend


class RoleBackend(ModelBackend):
    """Django's usual backend, plus: an active user with the admin role may do anything."""

    def has_perm(self, user_obj, perm, obj=None):
        if user_obj.is_active and getattr(user_obj, "is_admin", False):
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        if user_obj.is_active and getattr(user_obj, "is_admin", False):
            return True
        return super().has_module_perms(user_obj, app_label)
