"""Pure rule checks: each returns the errors it finds and writes nothing.

The services call them before writing, and every caller that wants to show
errors early (the importer, serializers, forms, the admin) calls the same
function, so a rule and its wording exist once.
"""
