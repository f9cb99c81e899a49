# SPDX-License-Identifier: GPL-3.0-or-later
#
# atspi_util.py: the small toolkit the e2e test drives Smelt with, through AT-SPI only (what a
# screen reader sees): launch the app, find widgets by role and accessible name, click, type, read
# values, press shortcuts, take screenshots, and print TAP. No knowledge of Smelt's internals.
import os
import re
import subprocess
import sys
import time

import gi

gi.require_version('Atspi', '2.0')
from gi.repository import Atspi  # noqa: E402

CONTROL_MASK = 1 << 2


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        if cond:
            print(f'ok {self.n} - {desc}', flush=True)
        else:
            self.failed += 1
            print(f'not ok {self.n} - {desc}', flush=True)
            if diag:
                for line in str(diag).splitlines():
                    print(f'# {line}', flush=True)
        return cond

    def ok_timing(self, cond, desc, diag=None):
        """A timing check: on a machine busier than its CPU count (shared CI), a miss is
        reported as TODO with the load, not as a failure, since the OS rather than the app held
        the thread."""
        load = os.getloadavg()[0]
        if cond or load <= (os.cpu_count() or 1):
            return self.ok(cond, desc, diag)
        self.n += 1
        print(f'not ok {self.n} - {desc} # TODO load average {load:.1f} on '
              f'{os.cpu_count()} CPUs', flush=True)
        return False

    def note(self, text):
        print(f'# {text}', flush=True)

    def finish(self):
        print(f'1..{self.n}', flush=True)
        return 1 if self.failed else 0


def wait_for(fn, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        try:
            v = fn()
        except gi.repository.GLib.GError:
            v = None
        if v:
            return v
        if time.monotonic() > end:
            return None
        time.sleep(step)


def walk(node, depth=0, max_depth=60):
    if node is None or depth > max_depth:
        return
    yield node
    try:
        n = node.get_child_count()
    except Exception:
        return
    for i in range(n):
        try:
            c = node.get_child_at_index(i)
        except Exception:
            continue
        yield from walk(c, depth + 1, max_depth)


def showing(node):
    # GTK 4.8 exposes VISIBLE but not SHOWING; a widget on a hidden stack page still counts.
    try:
        return node.get_state_set().contains(Atspi.StateType.VISIBLE)
    except Exception:
        return False


def find_all(root, role=None, name=None, visible=True):
    out = []
    for n in walk(root):
        try:
            if role is not None and n.get_role() != role:
                continue
            if name is not None and n.get_name() != name:
                continue
        except Exception:
            continue
        if visible and not showing(n):
            continue
        out.append(n)
    return out


def find_prefix(root, role, prefix, timeout=10.0):
    """GTK 4.8 appends a labelled button's label (and sometimes uses its tooltip) to the
    accessible name, so match the start of the name."""
    def look():
        for n in find_all(root, role, None, visible=False):
            try:
                if (n.get_name() or '').startswith(prefix):
                    return n
            except Exception:
                pass
        return None
    return wait_for(look, timeout)


def find(root, role=None, name=None, timeout=10.0, visible=True):
    return wait_for(lambda: (find_all(root, role, name, visible) or [None])[0], timeout)


def click(node):
    return Atspi.Action.do_action(node, 0)


def set_text(node, text):
    return Atspi.EditableText.set_text_contents(node, text)


def text_of(node):
    try:
        t = node.get_text_iface() if hasattr(node, 'get_text_iface') else node
        return Atspi.Text.get_text(t, 0, Atspi.Text.get_character_count(t))
    except Exception:
        return node.get_name() or ''


def value_of(node):
    return Atspi.Value.get_current_value(node)


def key_combo(keysym, mods=0):
    if mods:
        Atspi.generate_keyboard_event(mods, None, Atspi.KeySynthType.LOCKMODIFIERS)
    Atspi.generate_keyboard_event(keysym, None, Atspi.KeySynthType.SYM)
    if mods:
        Atspi.generate_keyboard_event(mods, None, Atspi.KeySynthType.UNLOCKMODIFIERS)
    time.sleep(0.15)


def screenshot(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(['/usr/bin/import', '-window', 'root', path], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.exists(path)


def app_for_pid(pid, timeout=15.0):
    def look():
        desk = Atspi.get_desktop(0)
        for i in range(desk.get_child_count()):
            a = desk.get_child_at_index(i)
            try:
                if a is not None and a.get_process_id() == pid:
                    return a
            except Exception:
                pass
        return None
    return wait_for(look, timeout)


INTERACTIVE = {
    Atspi.Role.PUSH_BUTTON, Atspi.Role.TOGGLE_BUTTON, Atspi.Role.CHECK_BOX,
    Atspi.Role.SPIN_BUTTON, Atspi.Role.ENTRY, Atspi.Role.PASSWORD_TEXT, Atspi.Role.COMBO_BOX,
    Atspi.Role.SLIDER, Atspi.Role.SWITCH if hasattr(Atspi.Role, 'SWITCH') else Atspi.Role.CHECK_BOX,
    Atspi.Role.RADIO_BUTTON, Atspi.Role.MENU_ITEM, Atspi.Role.TEXT,
}


def unnamed_controls(root):
    bad = []
    for n in walk(root):
        try:
            role = n.get_role()
            if role not in INTERACTIVE or not showing(n):
                continue
            name = (n.get_name() or '').strip()
            # GTK 4.8 falls back to the widget's type name when nothing names a control.
            if not name or re.fullmatch(r'(Gtk|Adw)[A-Za-z]+', name):
                # Text fields are named by their label relation; GTK exposes it as the name.
                chain, a = [], n.get_parent()
                while a is not None and len(chain) < 6:
                    if a.get_name() and not re.fullmatch(r'(Gtk|Adw)[A-Za-z]+', a.get_name()):
                        chain.append(f'{a.get_role_name()} "{a.get_name()}"')
                    a = a.get_parent()
                bad.append(f'{n.get_role_name()} ({name or "no name"}) in '
                           + ' < '.join(chain[:2]))
        except Exception:
            continue
    return bad
