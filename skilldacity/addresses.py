"""One spelling of an e-mail address for storing and comparing, used by every app.

Lower-cased whole: the local part is case-sensitive in theory, in practice no mailbox provider
treats it so, and "Ada@Example.com" and "ada@example.com" are one person to the leads, the
newsletter and the referral rules alike.
"""


def normalise_email(email):
    return (email or "").strip().lower()
