"""The web console (issue 19, docs/console.md): a small Starlette application served by uvicorn.

One module per concern: `users` (accounts and argon2id hashes), `sessions` (server-side session rows,
signed cookies), `ratelimit` (sign-in attempts), `auth` (who is asking, which role, CSRF), `queries`
(what the pages read from the views), `charts` (SVG geometry), `app` (routes), `server` (uvicorn).
"""
