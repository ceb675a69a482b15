"""leaderboards feature."""

# Declares the leaderboards' table and its indexes on ``attempts`` whenever the feature
# is imported (the app factory imports it through the blueprint).
from quizapp.leaderboards import models as _models  # noqa: F401, E402
