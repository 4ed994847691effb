"""Accounts and authority: Argon2 accounts, sessions and their audit (`accounts`), the permission table (`authority`), single sign-on by OIDC (`sso`)."""
