"""Events of the enrollments app, for other apps that must react to enrollment changes.

``enrollments_changed`` is sent once per ``api.py`` call that changed something, after the
transaction commits (never when it rolls back), with ``changes``: a list of
``data.EnrollmentChange``. A bulk call sends one signal carrying every change it made.
Receivers run after the commit, so an error in a receiver is logged and does not undo the change.
"""

from django.dispatch import Signal

enrollments_changed = Signal()
