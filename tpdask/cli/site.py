"""The website's commands: web (serve it) and users (its accounts)."""

from __future__ import annotations

from tpdask.cli.base import Commands
from tpdask.errors import UsageError


class SiteCommands(Commands):
    def web(self, host: str = "127.0.0.1", port: int = 8000) -> None:
        """Serve the website on http://HOST:PORT (uvicorn) until Ctrl-C or SIGTERM.

        Reads the configured store, the lake and the archives while jobs write them;
        --web_workers N server processes. Accounts: `tpdask users add`. Logins and
        passwords are never logged (the access log is off).
        """
        from tpdask.web.server import serve

        serve(self._existing_config(), host=str(host), port=int(port))

    def users(self, action: str, name: str | None = None, role: str | None = None) -> None:
        """The website's accounts: add NAME --role admin|visitor, list, remove NAME.

        `add` reads the password from TPDASK_NEW_PASSWORD when set, else asks for it twice
        (at least 8 characters); adding an existing name replaces its role and password and
        ends its sessions. `remove` ends the user's sessions too. Accounts live in
        <data_dir>/web/site.sqlite (0600), not in the analytics store.
        """
        from tpdask.web import accounts

        if action == "list":
            if name is not None or role is not None:
                raise UsageError("users list takes no NAME nor --role")
            # only reads: a mistyped --data_dir is an error, and no web/ folder is made
            data_dir = self._existing_config().data_dir
            for user, user_role, created in accounts.list_users(data_dir):
                print(f"{user:<32} {user_role:<8} since {format_time(created)}")
            return
        data_dir = self._config().data_dir
        if action not in ("add", "remove"):
            raise UsageError(f"users {action!r}: choose add, list or remove")
        if name is None:
            raise UsageError(f"users {action} needs NAME: tpdask users {action} NAME")
        accounts.check_name(name)
        if action == "remove":
            if role is not None:
                raise UsageError("users remove takes no --role")
            ended = accounts.remove_user(data_dir, str(name))
            print(f"removed {name} ({ended} sessions ended)")
            return
        if role is None:
            raise UsageError("users add needs --role admin or --role visitor")
        accounts.check_role(role)
        new = accounts.add_user(data_dir, str(name), str(role), accounts.read_new_password())
        print(f"{'added' if new else 'updated'} {role} {name}")


def format_time(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
