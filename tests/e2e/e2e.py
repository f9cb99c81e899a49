#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# e2e.py BUILD_DIR: the real Smelt window under Xvfb, driven through AT-SPI like a user (run by
# run-e2e.sh inside xvfb-run + dbus-run-session). For English, Simplified and Traditional Chinese
# it opens the window, checks every control has an accessible name, uses the keyboard shortcuts,
# changes a preference and checks it reached GSettings, saves a screenshot of each page under
# BUILD_DIR/e2e/screenshots, and prints the worst main-loop stall the app measured. Prints TAP.
import configparser
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atspi_util import (Atspi, CONTROL_MASK, Tap, click, find, find_all, key_combo,  # noqa: E402
                        screenshot, unnamed_controls, value_of, wait_for, app_for_pid)

build = os.path.abspath(sys.argv[1])
shots = os.path.join(build, 'e2e', 'screenshots')
exe = os.path.join(build, 'src', 'app', 'smelt')
tap = Tap()

# Translated names the test looks for, so it can drive every language.
T = {
    'en': {'Preferences': 'Preferences', 'Temperature': 'Temperature', 'Main Menu': 'Main Menu',
           'Models': 'Models'},
    'zh_CN': {'Preferences': '首选项', 'Temperature': '温度', 'Main Menu': '主菜单',
              'Models': '模型'},
    'zh_TW': {'Preferences': '偏好設定', 'Temperature': '溫度', 'Main Menu': '主選單',
              'Models': '模型'},
}


FIXTURES = os.path.join(os.environ.get('SMELT_SHARED_DIR', os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared')), 'fixtures', 'models')


def prepare_home(home):
    """A models folder with the two fixture models, registered in GSettings' keyfile."""
    models = os.path.join(home, 'models')
    os.makedirs(models)
    for name in ('stories260K.gguf', 'llama-2-tiny-random.gguf'):
        shutil.copy(os.path.join(FIXTURES, name), models)
    conf = os.path.join(home, 'config', 'glib-2.0', 'settings')
    os.makedirs(conf)
    with open(os.path.join(conf, 'keyfile'), 'w') as f:
        f.write(f"[io/github/smeltapp/Smelt]\nmodels-folders=['{models}']\n")
    return models


class Smelt:
    def __init__(self, lang, home):
        self.home = home
        env = dict(os.environ)
        env.update({
            'GDK_BACKEND': 'x11', 'GSK_RENDERER': 'cairo', 'GTK_A11Y': 'atspi',
            'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8', 'LANGUAGE': lang if lang != 'en' else 'en',
            'SMELT_LOCALEDIR': os.path.join(build, 'po'),
            'GSETTINGS_BACKEND': 'keyfile', 'GSETTINGS_SCHEMA_DIR': os.path.join(build, 'data'),
            'XDG_CONFIG_HOME': os.path.join(home, 'config'),
            'XDG_DATA_HOME': os.path.join(home, 'data'),
            'XDG_CACHE_HOME': os.path.join(home, 'cache'),
            'HF_HUB_CACHE': os.path.join(home, 'hub'),
            'SMELT_DEBUG_STALLS': os.path.join(home, 'stalls.txt'),
            'G_MESSAGES_DEBUG': '',
        })
        self.stall_file = env['SMELT_DEBUG_STALLS']
        self.log = open(os.path.join(home, 'smelt.log'), 'w')
        self.proc = subprocess.Popen([exe], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.app = app_for_pid(self.proc.pid)

    def window(self):
        return find(self.app, Atspi.Role.FRAME, timeout=10)

    def quit(self):
        key_combo(ord('q'), CONTROL_MASK)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def reset_stalls(self):
        os.kill(self.proc.pid, signal.SIGUSR1)
        time.sleep(0.1)

    def worst_stall(self):
        try:
            with open(self.stall_file) as f:
                kv = dict(line.strip().split('=', 1) for line in f if '=' in line)
            return float(kv['worst_stall_ms'])
        except (OSError, KeyError, ValueError):
            return None


def settings_value(home, key):
    cp = configparser.ConfigParser()
    cp.read(os.path.join(home, 'config', 'glib-2.0', 'settings', 'keyfile'))
    return cp.get('io/github/smeltapp/Smelt', key, fallback=None)


def run_language(lang):
    t = T[lang]
    with tempfile.TemporaryDirectory(prefix=f'smelt-e2e-{lang}-') as home:
        models = prepare_home(home)
        s = Smelt(lang, home)
        if not tap.ok(s.app is not None, f'{lang}: the app shows up on the accessibility bus'):
            s.proc.kill()
            return
        win = s.window()
        tap.ok(win is not None, f'{lang}: the main window opens')
        # The Library lists the models of the models folder.
        lst = find(win, Atspi.Role.LIST, t['Models'], timeout=10, visible=False)
        items = wait_for(lambda: len(find_all(lst, Atspi.Role.LIST_ITEM, visible=False)) == 2
                         and find_all(lst, Atspi.Role.LIST_ITEM, visible=False), 10) if lst else None
        tap.ok(bool(items), f'{lang}: the Library lists the two models of the models folder',
               [i.get_name() for i in find_all(lst, Atspi.Role.LIST_ITEM, visible=False)]
               if lst else 'no list')
        time.sleep(0.3)
        tap.ok(screenshot(os.path.join(shots, f'{lang}-library.png')), f'{lang}: library screenshot')
        if lang == 'en' and items:
            # Delete one model through its button and the confirmation dialog.
            names = [i.get_name() for i in items]
            victim = next((n for n in names if 'stories' not in n.lower()), names[-1])
            button = find(win, Atspi.Role.PUSH_BUTTON, f'Delete {victim}', timeout=3,
                          visible=False)
            tap.ok(button is not None and click(button), f'en: the "Delete {victim}" button works')
            # The dialog's destructive response. GTK 4.8 names a mnemonic button "_Delete
            # Delete", so find the button through its label.
            def delete_response():
                for d in find_all(s.app, Atspi.Role.DIALOG, visible=False):
                    for lab in find_all(d, Atspi.Role.LABEL, 'Delete', visible=False):
                        if lab.get_parent().get_role() == Atspi.Role.PUSH_BUTTON:
                            return lab.get_parent()
                return None
            dialog = wait_for(delete_response, 5)
            time.sleep(0.3)
            screenshot(os.path.join(shots, 'en-library-delete.png'))
            tap.ok(dialog is not None and click(dialog), 'en: the confirmation dialog has Delete')
            left = wait_for(lambda: len(find_all(lst, Atspi.Role.LIST_ITEM, visible=False)) == 1,
                            5)
            tap.ok(bool(left) and len(os.listdir(models)) == 1,
                   'en: after confirming, one model is left in the list and on disk',
                   os.listdir(models))

        menu = find(win, Atspi.Role.PUSH_BUTTON, t['Main Menu'], timeout=3)
        tap.ok(menu is not None, f'{lang}: the main menu button is named "{t["Main Menu"]}"')
        bad = unnamed_controls(win)
        tap.ok(not bad, f'{lang}: every control in the window has an accessible name', '\n'.join(bad))

        # Ctrl+, opens Preferences.
        key_combo(ord(','), CONTROL_MASK)
        prefs = wait_for(lambda: next((w for w in find_all(s.app, Atspi.Role.FRAME)
                                       + find_all(s.app, Atspi.Role.DIALOG)
                                       if w.get_name() == t['Preferences']), None), 5)
        tap.ok(prefs is not None, f'{lang}: Ctrl+, opens the Preferences window')
        if prefs is not None:
            time.sleep(0.4)
            tap.ok(screenshot(os.path.join(shots, f'{lang}-preferences.png')),
                   f'{lang}: preferences screenshot')
            bad = unnamed_controls(prefs)
            tap.ok(not bad, f'{lang}: every control in Preferences has an accessible name',
                   '\n'.join(bad))
            if lang == 'en':
                # The Generation page holds the sampling defaults.
                gen = find(prefs, Atspi.Role.PAGE_TAB, 'Generation', timeout=2)
                tap.ok(gen is not None and click(gen), 'en: the Generation page tab is clickable')
                temp = find(prefs, Atspi.Role.SPIN_BUTTON, t['Temperature'], timeout=3,
                            visible=False)
                tap.ok(temp is not None and abs(value_of(temp) - 0.8) < 1e-6,
                       'en: the Temperature control shows the schema default 0.8')
                if temp is not None:
                    Atspi.Value.set_current_value(temp, 1.2)
                    v = wait_for(lambda: settings_value(home, 'temperature'), 3)
                    tap.ok(v is not None and abs(float(v) - 1.2) < 1e-6,
                           'en: changing Temperature writes temperature=1.2 to GSettings',
                           f'keyfile value: {v}')
            key_combo(0xff1b)  # Escape closes the Preferences window
            gone = wait_for(lambda: not any(w.get_name() == t['Preferences']
                                            for w in find_all(s.app, Atspi.Role.FRAME)
                                            + find_all(s.app, Atspi.Role.DIALOG)), 3)
            tap.ok(bool(gone), f'{lang}: Escape closes Preferences')

        # Idle with the window up after its first frames: nothing may hold the loop.
        s.reset_stalls()
        time.sleep(1.0)
        worst = s.worst_stall()
        tap.note(f'{lang}: worst main-loop stall in the measured phase {worst} ms')
        tap.ok(worst is not None and worst < 50.0,
               f'{lang}: the main loop never stalled 50 ms or more (worst {worst} ms)')
        s.quit()
        tap.ok(s.proc.returncode == 0, f'{lang}: Ctrl+Q quits cleanly',
               open(os.path.join(home, 'smelt.log')).read()[-2000:])


# Start the accessibility bus and registry before the first app, or the app may come up before
# there is a registry to announce itself to.
wait_for(lambda: Atspi.get_desktop(0).get_child_count() >= 0 and Atspi.get_desktop(0), 10)
time.sleep(0.3)

for lang in ('en', 'zh_CN', 'zh_TW'):
    run_language(lang)
tap.note(f'screenshots in {shots}')
sys.exit(tap.finish())
