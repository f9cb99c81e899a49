#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# e2e.py BUILD_DIR: the real Smelt window under Xvfb, driven through AT-SPI like a user (run by
# run-e2e.sh inside xvfb-run + dbus-run-session). For English, Simplified and Traditional Chinese
# it opens the window, checks every control has an accessible name, uses the keyboard shortcuts,
# changes a preference and checks it reached GSettings, saves a screenshot of each page under
# BUILD_DIR/e2e/screenshots, and prints the worst main-loop stall the app measured. Against the
# loopback fake Hub (build/tests/fake-hub/fake-hub serving a repo with a single-file Q4_K_M and
# a gguf-split Q8_0 made by `smelt quantize`), it searches, opens the repo, runs the download
# wizard through its four steps and the format table, downloads the split variant and sees it in
# the Library (in English, with "open in Chat when done", in Chat too). Prints TAP.
import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atspi_util import (Atspi, CONTROL_MASK, Tap, click, find, find_all, find_prefix,
                        key_combo,  # noqa: E402
                        screenshot, text_of, unnamed_controls, value_of, wait_for,
                        app_for_pid)

build = os.path.abspath(sys.argv[1])
shots = os.path.join(build, 'e2e', 'screenshots')
# A fresh build has no e2e/ folder yet: the app's logs and the screenshots go there.
os.makedirs(shots, exist_ok=True)
exe = os.path.join(build, 'src', 'app', 'smelt')
tap = Tap()

# Translated names the test looks for, so it can drive every language.
T = {
    'en': {'Preferences': 'Preferences', 'Temperature': 'Temperature', 'Main Menu': 'Main Menu',
           'Models': 'Models', 'Chat with': 'Chat with {}', 'Model loaded': 'Model loaded',
           'Message': 'Message', 'Send': 'Send', 'tokens/s': 'tokens/s',
           'Assistant': 'Assistant', 'Status': 'Status', 'Loading': 'Loading the model',
           'Quantize x': 'Quantize {}', 'Quantize': 'Quantize', 'Close': 'Close',
           'Quantization progress': 'Quantization progress',
           'Search results': 'Search results', 'Download x': 'Download {}',
           'Download a Model': 'Download a Model', 'Next': 'Next', 'Back': 'Back',
           'Download': 'Download', 'recommended': '{}, recommended',
           'Longer conversations': 'Longer conversations', 'Compare Formats': 'Compare Formats',
           'Open in Chat': 'Open in Chat when done', 'Downloads': 'Downloads', 'Chat': 'Chat',
           'parts': '2 parts'},
    'zh_CN': {'Preferences': '首选项', 'Temperature': '温度', 'Main Menu': '主菜单',
              'Models': '模型', 'Chat with': '与 {} 对话', 'Model loaded': '模型已加载',
              'Message': '消息', 'Send': '发送', 'tokens/s': '每秒', 'Assistant': '助手',
              'Status': '状态', 'Loading': '正在加载模型',
              'Quantize x': '量化 {}', 'Quantize': '量化', 'Close': '关闭(C)',
              'Quantization progress': '量化进度',
              'Search results': '搜索结果', 'Download x': '下载 {}',
              'Download a Model': '下载模型', 'Next': '下一步', 'Back': '返回',
              'Download': '下载', 'recommended': '{}（推荐）',
              'Longer conversations': '较长的对话', 'Compare Formats': '比较格式',
              'Open in Chat': '完成后在聊天中打开', 'Downloads': '下载', 'Chat': '对话',
              'parts': '2 个分卷'},
    'zh_TW': {'Preferences': '偏好設定', 'Temperature': '溫度', 'Main Menu': '主選單',
              'Models': '模型', 'Chat with': '與 {} 對話', 'Model loaded': '模型已載入',
              'Message': '訊息', 'Send': '傳送', 'tokens/s': '每秒', 'Assistant': '助理',
              'Status': '狀態', 'Loading': '正在載入模型',
              'Quantize x': '量化 {}', 'Quantize': '量化', 'Close': '關閉(C)',
              'Quantization progress': '量化進度',
              'Search results': '搜尋結果', 'Download x': '下載 {}',
              'Download a Model': '下載模型', 'Next': '下一步', 'Back': '返回',
              'Download': '下載', 'recommended': '{}（建議）',
              'Longer conversations': '較長的對話', 'Compare Formats': '比較格式',
              'Open in Chat': '完成後在聊天中開啟', 'Downloads': '下載', 'Chat': '對話',
              'parts': '2 個分割檔'},
}


FIXTURES = os.path.join(os.environ.get('SMELT_SHARED_DIR', os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared')), 'fixtures', 'models')


def prepare_home(home):
    """A models folder with the two fixture models, registered in GSettings' keyfile."""
    models = os.path.join(home, 'models')
    os.makedirs(models)
    for name in ('stories260K.gguf', 'llama-2-tiny-random.gguf'):
        shutil.copy(os.path.join(FIXTURES, name), models)
    # A second copy of the F16 model: one is deleted, the other quantized.
    shutil.copy(os.path.join(FIXTURES, 'llama-2-tiny-random.gguf'),
                os.path.join(models, 'llama-2-tiny-copy.gguf'))
    conf = os.path.join(home, 'config', 'glib-2.0', 'settings')
    os.makedirs(conf)
    with open(os.path.join(conf, 'keyfile'), 'w') as f:
        f.write(f"[io/github/smeltapp/Smelt]\nmodels-folders=['{models}']\n"
                "context-length=256\n")
    return models


HUB_REPO = 'e2e-org/Tiny-GGUF'


def prepare_hub(root):
    """The fake Hub's repo: the F16 fixture, a Q4_K_M and a Q8_0 split into two gguf-split
    parts by Smelt's own quantizer, and a model card."""
    repo = os.path.join(root, *HUB_REPO.split('/'))
    os.makedirs(repo)
    src = os.path.join(FIXTURES, 'llama-2-tiny-random.gguf')
    shutil.copy(src, os.path.join(repo, 'Tiny-F16.gguf'))
    for args in (['Tiny-Q8_0.gguf', 'Q8_0', '--split-max-size', '1M'],
                 ['Tiny-Q4_K_M.gguf', 'Q4_K_M']):
        subprocess.run([exe, 'quantize', src, os.path.join(repo, args[0])] + args[1:],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(repo, 'README.md'), 'w') as f:
        f.write('# Tiny\n\nA tiny test model for the download wizard.\n')
    return sorted(os.listdir(repo))


def start_hub(root):
    proc = subprocess.Popen([os.path.join(build, 'tests', 'fake-hub', 'fake-hub'), '--root', root],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


class Smelt:
    def __init__(self, lang, home, endpoint=None):
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
        if endpoint:
            env['HF_ENDPOINT'] = endpoint
        self.stall_file = env['SMELT_DEBUG_STALLS']
        self.log_path = os.path.join(build, 'e2e', f'{lang}-smelt.log')
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen([exe], env=env, cwd=home, stdout=self.log, stderr=subprocess.STDOUT)
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


def label_texts(root):
    out = []
    for n in find_all(root, Atspi.Role.LABEL, visible=False):
        out.append(text_of(n))
    return out


def run_chat(s, win, lang, t):
    """Library -> Chat with the stories model, send a message, watch the reply stream in."""
    chat_button = find_prefix(win, Atspi.Role.PUSH_BUTTON, t['Chat with'].format('llama'), 5)
    if not tap.ok(chat_button is not None and click(chat_button),
                  f'{lang}: the Library row has a working "Chat with llama" button'):
        return
    # Poll one label, slowly: every AT-SPI query is answered on the app's main loop, and walking
    # the whole tree many times a second would itself stall the loop being measured.
    status = wait_for(lambda: next((n for n in find_all(win, Atspi.Role.LABEL, visible=False)
                                    if text_of(n).startswith((t['Model loaded'],
                                                              t['Loading']))), None), 10, 0.5)
    loaded = wait_for(lambda: text_of(status).startswith(t['Model loaded']), 20, 0.25) \
        if status else None
    if not tap.ok(bool(loaded), f'{lang}: the model loads and the page says so'):
        return
    entry = find(win, Atspi.Role.TEXT, t['Message'], timeout=5, visible=False)
    send = find_prefix(win, Atspi.Role.PUSH_BUTTON, t['Send'], 5)
    if not tap.ok(entry is not None and send is not None, f'{lang}: message box and Send button'):
        return
    Atspi.EditableText.set_text_contents(entry, 'Once upon a time')
    s.reset_stalls()
    click(send)
    # Wait on the saved conversation, not on the accessibility tree: polling AT-SPI while the
    # reply streams would load the very main loop whose stalls are being measured.
    convs = os.path.join(s.home, 'data', 'smelt', 'conversations')

    def replied():
        for name in (os.listdir(convs) if os.path.isdir(convs) else []):
            try:
                with open(os.path.join(convs, name)) as f:
                    msgs = json.load(f)['messages']
                if len(msgs) == 2 and msgs[1]['role'] == 'assistant' and msgs[1]['content']:
                    return msgs[1]['content']
            except (OSError, ValueError, KeyError):
                pass
        return None
    reply = wait_for(replied, 90, 0.25)
    time.sleep(0.3)
    done = text_of(status) if status else ''
    tap.ok(bool(reply) and t['tokens/s'] in done,
           f'{lang}: a reply streams in, is saved, and the status shows tokens per second',
           f'status: {done!r}; reply: {reply!r}')
    worst = s.worst_stall()
    tap.note(f'{lang}: worst main-loop stall during the reply {worst} ms')
    tap.ok_timing(worst is not None and worst < 50.0,
                  f'{lang}: the main loop never stalled 50 ms or more during the reply '
                  f'({worst} ms)')
    texts = label_texts(win)
    tap.ok(t['Assistant'] in texts and 'Once upon a time' in texts,
           f'{lang}: the conversation shows the message and the assistant\'s reply')
    time.sleep(0.3)
    tap.ok(screenshot(os.path.join(shots, f'{lang}-chat.png')), f'{lang}: chat screenshot')
    tap.ok(len(os.listdir(convs)) == 1, f'{lang}: one conversation file in the data folder')


def dialog_button(app, label):
    """A labelled push button (GTK 4.8 names these "_Label Label": find it by its label)."""
    for lab in find_all(app, Atspi.Role.LABEL, label, visible=False):
        if lab.get_parent() and lab.get_parent().get_role() == Atspi.Role.PUSH_BUTTON:
            return lab.get_parent()
    return None


def run_quantize(s, win, lang, t, models, lst):
    """Library -> Quantize the F16 model; in English run it and watch the bar."""
    button = find_prefix(win, Atspi.Role.PUSH_BUTTON, t['Quantize x'].format('LLaMA v2'), 5)
    if not tap.ok(button is not None and click(button),
                  f'{lang}: the F16 model\'s row has a working Quantize button'):
        return
    # The Quantize view replaces the list inside the Library page.
    dialog = win
    bar = find(win, Atspi.Role.PROGRESS_BAR, t['Quantization progress'], timeout=5,
               visible=False)
    if not tap.ok(bar is not None, f'{lang}: the Quantize view opens'):
        return
    time.sleep(0.4)
    tap.ok(screenshot(os.path.join(shots, f'{lang}-quantize.png')), f'{lang}: quantize screenshot')
    if lang == 'en':
        start = wait_for(lambda: dialog_button(dialog, 'Quantize'), 3)
        s.reset_stalls()
        tap.ok(start is not None and bar is not None and click(start),
               'en: Quantize starts the job')
        seen = []

        def finished():
            v = value_of(bar)
            if not seen or seen[-1] != v:
                seen.append(v)
            # GTK 4.8's AT-SPI value can lag the last tiny step (99.95 % -> 100 %); the in-process
            # test checks the widget itself reads exactly 1.
            return v >= 0.999
        done = wait_for(finished, 60, 0.2)
        tap.ok(bool(done), 'en: the progress bar reaches the end', f'values seen: {seen}')
        worst = s.worst_stall()
        tap.note(f'en: worst main-loop stall during the quantization {worst} ms')
        tap.ok_timing(worst is not None and worst < 50.0,
                      f'en: the main loop never stalled 50 ms or more while quantizing '
                      f'({worst} ms)')
        time.sleep(0.3)
        screenshot(os.path.join(shots, 'en-quantize-done.png'))
        out = [f for f in os.listdir(models) if f.endswith('-Q4_K_M.gguf')]
        tap.ok(len(out) == 1, 'en: the Q4_K_M file is next to the source', os.listdir(models))
        n_items = wait_for(lambda: len(find_all(lst, Atspi.Role.LIST_ITEM, visible=False)) == 3,
                           10, 0.5)  # 3 - 1 deleted + 1 new
        tap.ok(bool(n_items), 'en: the new file is in the Library')
    close = dialog_button(dialog, t['Close'])
    tap.ok(close is not None and click(close), f'{lang}: Close returns to the list')


def checked(node):
    try:
        return node.get_state_set().contains(Atspi.StateType.CHECKED)
    except Exception:
        return False


def press(node):
    """Clicks a control with the mouse at the centre of its box. GTK 4.8 gives check buttons
    no AT-SPI action (buttons and switches have one: use click() for those); window-relative
    extents are screen positions here because nothing moves the windows off the origin under
    Xvfb without a window manager."""
    r = Atspi.Component.get_extents(node, Atspi.CoordType.WINDOW)
    return Atspi.generate_mouse_event(r.x + r.width // 2, r.y + r.height // 2, 'b1c')


def wizard_window(app, t):
    return next((w for w in find_all(app, Atspi.Role.FRAME) + find_all(app, Atspi.Role.DIALOG)
                 if w.get_name() == t['Download a Model']), None)


def run_wizard(s, win, lang, t, models):
    """Discover: search the fake Hub, open the repo, Download the split Q8_0 through the wizard's
    four steps, and find it on disk, in the Downloads queue and in the Library."""
    key_combo(ord('f'), CONTROL_MASK)
    time.sleep(0.3)
    Atspi.generate_keyboard_event(0, 'Tiny', Atspi.KeySynthType.STRING)
    key_combo(0xff0d)  # Enter searches
    results = find(win, Atspi.Role.LIST, t['Search results'], timeout=5, visible=False)
    hit = wait_for(lambda: results and next((i for i in find_all(results, Atspi.Role.LIST_ITEM)
                                             if i.get_name() == HUB_REPO), None), 10, 0.25)
    if not tap.ok(hit is not None, f'{lang}: Ctrl+F, typing and Enter find {HUB_REPO} on the Hub'):
        return
    # A result row has no AT-SPI action in GTK 4.8: reach it as a keyboard user does (Tab past
    # the sort drop-down into the list) and press Enter.
    key_combo(0xff09)
    key_combo(0xff09)
    key_combo(0xff0d)
    download = find_prefix(win, Atspi.Role.PUSH_BUTTON, t['Download x'].format('Q8_0'), 10)
    if not tap.ok(download is not None, f'{lang}: the repo opens with a "Download Q8_0" button'):
        return
    time.sleep(0.5)
    tap.ok(screenshot(os.path.join(shots, f'{lang}-discover-repo.png')),
           f'{lang}: repo page screenshot')
    s.reset_stalls()
    click(download)
    wiz = wait_for(lambda: wizard_window(s.app, t), 10, 0.25)
    if not tap.ok(wiz is not None, f'{lang}: Download opens the wizard window'):
        return
    time.sleep(0.5)
    worst = s.worst_stall()
    tap.note(f'{lang}: worst main-loop stall while the wizard opened {worst} ms')
    # Building and showing a window is one-time work on the main loop (15-30 ms of CPU per turn
    # here, up to ~50 ms on the first, cold opening); issue 7's 50 ms bound is for downloads,
    # quantization and replies, checked below. The wizard is held to twice that.
    tap.ok_timing(worst is not None and worst < 100.0,
                  f'{lang}: opening the wizard never stalled the main loop 100 ms or more '
                  f'({worst} ms)')

    def step(n, name):
        time.sleep(0.6)
        tap.ok(screenshot(os.path.join(shots, f'{lang}-wizard-{n}-{name}.png')),
               f'{lang}: wizard step {n} screenshot')
        bad = unnamed_controls(wiz)
        tap.ok(not bad, f'{lang}: every control of wizard step {n} has an accessible name',
               '\n'.join(bad))

    def next_step():
        button = find_prefix(wiz, Atspi.Role.PUSH_BUTTON, t['Next'], 3)
        return button is not None and click(button)

    # Step 1: this computer. The memory row shows a value in gigabytes the user can change.
    step(1, 'computer')
    ram = next((n for n in find_all(wiz, Atspi.Role.SPIN_BUTTON)), None)
    tap.ok(ram is not None and value_of(ram) > 0, f'{lang}: step 1 shows the memory to plan for')
    tap.ok(next_step(), f'{lang}: Next goes to step 2')
    # Step 2: what matters; longer conversations (once the page has slid in).
    time.sleep(1.0)
    longer = find_prefix(wiz, Atspi.Role.CHECK_BOX, t['Longer conversations'], 5)
    tap.ok(longer is not None and press(longer) and wait_for(lambda: checked(longer), 3),
           f'{lang}: step 2 picks "{t["Longer conversations"]}"')
    step(2, 'goal')
    tap.ok(next_step(), f'{lang}: Next goes to step 3')
    # Step 3: the advisor's pick is starred in its name; the Q8_0 the user asked for is chosen.
    rec = find_prefix(wiz, Atspi.Role.CHECK_BOX, t['recommended'].format('Q4_K_M'), 5)
    q8 = find_prefix(wiz, Atspi.Role.CHECK_BOX, 'Q8_0', 5)
    tap.ok(rec is not None, f'{lang}: step 3 recommends Q4_K_M for this machine')
    tap.ok(q8 is not None and checked(q8), f'{lang}: step 3 has the split Q8_0 chosen')
    step(3, 'recommendation')
    formats = find_prefix(wiz, Atspi.Role.PUSH_BUTTON, t['Compare Formats'], 3)
    tap.ok(formats is not None and click(formats), f'{lang}: "{t["Compare Formats"]}" opens')
    q40 = wait_for(lambda: next((n for n in find_all(wiz, Atspi.Role.LABEL)
                                 if text_of(n).startswith('Q4_0 ')), None), 5, 0.25)
    tap.ok(q40 is not None, f'{lang}: the format table lists Q4_0')
    step(3, 'formats')
    back = find_prefix(wiz, Atspi.Role.PUSH_BUTTON, t['Back'], 3)
    tap.ok(back is not None and click(back) and find_prefix(wiz, Atspi.Role.PUSH_BUTTON,
                                                            t['Next'], 3) is not None,
           f'{lang}: Back returns from the format table to the recommendation')
    tap.ok(next_step(), f'{lang}: Next goes to step 4')
    # Step 4: the models folder of Preferences, and the free space.
    folder = wait_for(lambda: next((n for n in find_all(wiz, Atspi.Role.LABEL)
                                    if text_of(n) == models), None), 5, 0.25)
    tap.ok(folder is not None, f'{lang}: step 4 stores into the models folder {models}')
    if lang == 'en':
        chat = find_prefix(wiz, Atspi.Role.CHECK_BOX, t['Open in Chat'], 3)
        tap.ok(chat is not None and click(chat) and wait_for(lambda: checked(chat), 3),
               'en: "Open in Chat when done" is switched on')
    step(4, 'store')
    go = wait_for(lambda: next((b for b in find_all(wiz, Atspi.Role.PUSH_BUTTON)
                                if (b.get_name() or '').startswith(t['Download'])
                                and b.get_state_set().contains(Atspi.StateType.SENSITIVE)),
                               None), 5, 0.25)
    s.reset_stalls()
    tap.ok(go is not None and click(go), f'{lang}: Download on step 4 starts the download')
    # Ask nothing about the closing window while it goes: GTK 4.8's AT-SPI bridge crashes the
    # app when a client walks a window's accessibles as it is hidden. The main window's tabs
    # say which page shows (in English the finished download may already have moved on to Chat).
    time.sleep(1.0)
    shown = [b.get_name() for b in find_all(win, Atspi.Role.PAGE_TAB)
             if b.get_state_set().contains(Atspi.StateType.SELECTED)]
    tap.ok(t['Downloads'] in shown or (lang == 'en' and t['Chat'] in shown),
           f'{lang}: the window shows the Downloads page', shown)
    tap.ok(wizard_window(s.app, t) is None, f'{lang}: the wizard closes')
    time.sleep(0.3)
    screenshot(os.path.join(shots, f'{lang}-wizard-5-downloads.png'))
    # Watch the disk, not the accessibility tree, while the download runs (see run_chat).
    parts = [os.path.join(models, f'Tiny-Q8_0-0000{i}-of-00002.gguf') for i in (1, 2)]
    done = wait_for(lambda: all(os.path.exists(p) for p in parts), 30, 0.25)
    tap.ok(bool(done), f'{lang}: both gguf-split parts land in the models folder',
           os.listdir(models))
    if lang == 'en':
        # "Open in Chat when done": the Chat page opens and loads the new model.
        chat_tab = wait_for(lambda: next((b for b in find_all(win, Atspi.Role.PAGE_TAB)
                                          if b.get_name() == t['Chat'] and b.get_state_set()
                                          .contains(Atspi.StateType.SELECTED)), None), 15, 0.5)
        tap.ok(chat_tab is not None, 'en: the Chat page opens once the download is done')
        time.sleep(0.5)
        screenshot(os.path.join(shots, 'en-wizard-6-chat.png'))
    lst = find(win, Atspi.Role.LIST, t['Models'], timeout=5, visible=False)
    listed = wait_for(lambda: lst and next((n for n in find_all(lst, Atspi.Role.LABEL,
                                                                visible=False)
                                            if 'Q8_0' in text_of(n)
                                            and t['parts'] in text_of(n)), None), 15, 0.5)
    tap.ok(listed is not None, f'{lang}: the Library lists the downloaded split Q8_0 model',
           [text_of(n) for n in find_all(lst, Atspi.Role.LABEL, visible=False)] if lst else '')
    worst = s.worst_stall()
    tap.note(f'{lang}: worst main-loop stall from Download to the Library {worst} ms')
    tap.ok_timing(worst is not None and worst < 50.0,
                  f'{lang}: the main loop never stalled 50 ms or more from Download to the model '
                  f'in the Library ({worst} ms)')


def run_language(lang, endpoint):
    t = T[lang]
    with tempfile.TemporaryDirectory(prefix=f'smelt-e2e-{lang}-') as home:
        models = prepare_home(home)
        s = Smelt(lang, home, endpoint)
        if not tap.ok(s.app is not None, f'{lang}: the app shows up on the accessibility bus'):
            s.proc.kill()
            return
        win = s.window()
        tap.ok(win is not None, f'{lang}: the main window opens')
        # The Library lists the models of the models folder.
        lst = find(win, Atspi.Role.LIST, t['Models'], timeout=10, visible=False)
        items = wait_for(lambda: len(find_all(lst, Atspi.Role.LIST_ITEM, visible=False)) == 3
                         and find_all(lst, Atspi.Role.LIST_ITEM, visible=False), 10) if lst else None
        tap.ok(bool(items), f'{lang}: the Library lists the three models of the models folder',
               [i.get_name() for i in find_all(lst, Atspi.Role.LIST_ITEM, visible=False)]
               if lst else 'no list')
        time.sleep(0.3)
        tap.ok(screenshot(os.path.join(shots, f'{lang}-library.png')), f'{lang}: library screenshot')
        if lang == 'en' and items:
            # Delete one model through its button and the confirmation dialog.
            victim = 'LLaMA v2'
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
            dialog = wait_for(delete_response, 10, 0.25)
            time.sleep(0.3)
            screenshot(os.path.join(shots, 'en-library-delete.png'))
            tap.ok(dialog is not None and click(dialog), 'en: the confirmation dialog has Delete')
            left = wait_for(lambda: len(find_all(lst, Atspi.Role.LIST_ITEM, visible=False)) == 2,
                            5)
            tap.ok(bool(left) and len(os.listdir(models)) == 2,
                   'en: after confirming, that model is gone from the list and from disk',
                   os.listdir(models))

        run_quantize(s, win, lang, t, models, lst)

        menu = find(win, Atspi.Role.PUSH_BUTTON, t['Main Menu'], timeout=3)
        tap.ok(menu is not None, f'{lang}: the main menu button is named "{t["Main Menu"]}"')
        bad = unnamed_controls(win)
        tap.ok(not bad, f'{lang}: every control in the window has an accessible name', '\n'.join(bad))
        run_chat(s, win, lang, t)
        run_wizard(s, win, lang, t, models)

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
        tap.ok_timing(worst is not None and worst < 50.0,
                      f'{lang}: the main loop never stalled 50 ms or more (worst {worst} ms)')
        s.quit()
        tap.ok(s.proc.returncode == 0, f'{lang}: Ctrl+Q quits cleanly',
               open(s.log_path).read()[-2000:])


# Start the accessibility bus and registry before the first app, or the app may come up before
# there is a registry to announce itself to.
wait_for(lambda: Atspi.get_desktop(0).get_child_count() >= 0 and Atspi.get_desktop(0), 10)
time.sleep(0.3)

with tempfile.TemporaryDirectory(prefix='smelt-e2e-hub-') as hub_root:
    tap.note(f'fake Hub repo {HUB_REPO}: {prepare_hub(hub_root)}')
    hub, endpoint = start_hub(hub_root)
    try:
        for lang in ('en', 'zh_CN', 'zh_TW'):
            run_language(lang, endpoint)
    finally:
        hub.kill()
        hub.wait()
tap.note(f'screenshots in {shots}')
sys.exit(tap.finish())
