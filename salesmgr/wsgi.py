import os

from django.core.wsgi import get_wsgi_application

from salesmgr.startup import settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
application = get_wsgi_application()
settle()
