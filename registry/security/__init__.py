"""Security of the registry's accounts: security events, two-factor sign-in, CSP, password rules.

* ``events``: the append-only log of security events (logins, failures, lockouts and their
  resets, password changes, second-factor enrolment and removal, role changes, exports) and
  its CSV export;
* ``twofactor``: enrolment (TOTP and recovery codes), verification, who must use it;
* ``middleware``: the two-factor gate on every page and the Content-Security-Policy header;
* ``passwords``: the password rules added to Django's validators.
"""
