"""The pure rules of the registry service, in two modules:

- `registration`: validating a partner's registration (every reason at once; the NIK's warnings);
- `funders`: the office's funder lists (who another payer already funds) and their keyed NIK hash.
"""
