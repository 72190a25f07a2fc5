"""The one exception family whose message is meant for the user.

Anything raised as a :class:`KstockError` is printed as one clear line by the CLI and sent as a
polite reply by the bot; anything else is a bug and is logged with its traceback.
"""


class KstockError(Exception):
    """A problem the user can act on; ``str(exc)`` says what is wrong and what to do."""
