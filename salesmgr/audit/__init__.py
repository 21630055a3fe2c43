"""The audit log: security events (sign-ins, role changes, exports, imports...) that admins can read.

Every app writes events through ``salesmgr.audit.services.audit_record``.
"""
