"""validated_app's echo with the validator's warnings made errors: any PEP 3333
violation, even one the validator only warns about, raises in the app, so
the server logs a traceback and answers 500.

The filter is process-wide, but only wsgiref.validate raises WSGIWarning.
"""
import warnings
from wsgiref.validate import WSGIWarning, validator

from validated_app import echo

warnings.simplefilter("error", WSGIWarning)

app = validator(echo)
