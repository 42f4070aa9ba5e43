"""The service's logic, shared by every HTTP function.

pydicom reports invalid values by logging and warning with the value included; values may be
patient data, so value validation while reading is switched off here (the store validates what it
indexes itself, see ``shared.validation``) and pydicom's own log is kept to errors.
"""

import logging

from pydicom import config as _pydicom_config

_pydicom_config.settings.reading_validation_mode = _pydicom_config.IGNORE
logging.getLogger("pydicom").setLevel(logging.ERROR)
