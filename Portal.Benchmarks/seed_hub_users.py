"""Seed users into a stopped JupyterHub 3.0's sqlite db (scripts/bench admin-queries).

usage: /usr/bin/python3 seed_hub_users.py DB NAMES_FILE

DB is the jupyterhub.sqlite of a hub that has started once (tables and roles exist) and is stopped now; NAMES_FILE
holds one username a line. Each becomes a row of `users` (as POST /hub/api/users makes it: admin false, a fresh
cookie_id, no state) with the default role `user` in `user_role_map`. The users table must be empty.
"""
import sqlite3
import sys
import uuid
from datetime import datetime

db_path, names_path = sys.argv[1], sys.argv[2]
with open(names_path, encoding="utf-8") as f:
    names = [line.strip() for line in f if line.strip()]

db = sqlite3.connect(db_path)
(existing,) = db.execute("SELECT count(*) FROM users").fetchone()
if existing:
    raise SystemExit(f"{db_path} already has {existing} users")
row = db.execute("SELECT id FROM roles WHERE name = 'user'").fetchone()
if row is None:
    raise SystemExit(f"{db_path} has no role 'user': start the hub once before seeding")
role_id = row[0]
created = datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
with db:
    db.executemany(
        "INSERT INTO users (name, admin, created, last_activity, cookie_id, state, encrypted_auth_state) "
        "VALUES (?, 0, ?, NULL, ?, NULL, NULL)",
        ((name, created, uuid.uuid4().hex) for name in names),
    )
    db.execute("INSERT INTO user_role_map (user_id, role_id) SELECT id, ? FROM users", (role_id,))
(count,) = db.execute("SELECT count(*) FROM users").fetchone()
db.close()
print(count)
