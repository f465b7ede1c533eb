"""Which program holds a TCP port, for "address already in use" in words.

The kernel lists every listening socket in /proc/net/tcp and tcp6 with its owner's user
id and inode; the program is the process with a descriptor on that inode. The installed
service runs unprivileged, with other users' processes hidden (ProtectProc=invisible) and
in a user namespace of its own (PrivateUsers: every other user shows as "nobody"), so it
often sees only that a port is taken, not by whom: then it says so and names the command
that shows it. install.sh (as root, seeing everything) uses the same code:
`python3 -m guardian.port_holders PORT [--except-user USER]`.
"""

from __future__ import annotations

import argparse
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"  # the TCP state column of /proc/net/tcp
OVERFLOW_UID = 65534  # what a user outside this user namespace shows as


@dataclass(frozen=True)
class Holder:
    user: str | None  # None: not visible from here
    pid: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.pid is None:
            return f"a program of user {self.user}" if self.user else "another program"
        return f"{self.name} (pid {self.pid}, user {self.user or '?'})"


def _listening_inodes(port: int, proc: Path) -> dict[str, int]:
    """inode -> owner uid of the sockets listening on `port`, IPv4 and IPv6."""
    found: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[9] != "0":
                found[fields[9]] = int(fields[7])
    return found


def _whole_user_namespace(proc: Path) -> bool:
    """False inside a user namespace that maps only some users (systemd's PrivateUsers)."""
    try:
        return (proc / "self" / "uid_map").read_text().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


def _user_name(uid: int, proc: Path) -> str | None:
    if uid == OVERFLOW_UID and not _whole_user_namespace(proc):
        return None  # a user this namespace does not map: unknown, not really "nobody"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _processes_with(inodes: set[str], proc: Path) -> dict[str, tuple[int, str]]:
    """inode -> (pid, command name) for the processes whose descriptors this user may see."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict[str, tuple[int, str]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"{entry.path}/fd"):
                inode = wanted.get(os.readlink(fd.path))
                if inode is not None and inode not in found:
                    name = Path(entry.path, "comm").read_text().strip()
                    found[inode] = (int(entry.name), name)
        except OSError:  # another user's process, or one that just ended
            continue
        if len(found) == len(wanted):
            break
    return found


def holders(port: int, proc: Path = Path("/proc")) -> list[Holder]:
    """The programs listening on `port`, as far as this process can see them (may be empty)."""
    inodes = _listening_inodes(port, proc)
    processes = _processes_with(set(inodes), proc) if inodes else {}
    result: list[Holder] = []
    for inode, uid in inodes.items():
        pid, name = processes.get(inode, (None, None))
        holder = Holder(_user_name(uid, proc), pid, name)
        if holder not in result:
            result.append(holder)
    return result


def in_use_hint(port: int) -> str:
    """For a bind that failed with "address already in use": who holds the port, in words."""
    found = holders(port)
    how = f"`sudo ss -ltnp 'sport = :{port}'` names it"
    if not found:
        return f" (another program uses port {port}; {how})"
    named = ", ".join(str(h) for h in found)
    if all(h.pid is not None for h in found):
        return f" (port {port} is held by {named})"
    return (f" (port {port} is held by {named}; Guardian's user may not see other users' programs: "
            f"{how})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m guardian.port_holders",
                                     description="the programs listening on a TCP port, one per line")
    parser.add_argument("port", type=int)
    parser.add_argument("--except-user", metavar="USER", help="leave out this user's programs")
    args = parser.parse_args(argv)
    for holder in holders(args.port):
        if args.except_user is None or holder.user != args.except_user:
            print(holder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
