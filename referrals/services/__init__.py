"""Every state change in SkillPoints: one keyword-only function per operation, one transaction each.

By concern: `ledger` (the only code that moves points), `accounts`, `rules` (referrals),
`rewards` (redemptions); `errors` holds the exceptions they raise for the referrer to read.
"""
