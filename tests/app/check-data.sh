#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# check-data.sh SOURCE_DIR BUILD_DIR: validates the platform pieces with the tools distributions
# use (desktop-file-validate, appstreamcli, glib-compile-schemas) and checks the translations:
# POTFILES.in sorted and complete, every .po compiles with msgfmt --check, and every message of
# a freshly extracted template is translated (no missing, untranslated or fuzzy entry).
# Prints TAP. It does not check wording; people review that.
src=$1
build=$2
id=io.github.smeltapp.Smelt
n=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok () { n=$((n + 1)); echo "ok $n - $1"; }
notok () { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$tmp/log"; }
check () { desc=$1; shift; if "$@" >"$tmp/log" 2>&1; then ok "$desc"; else notok "$desc"; fi; }

langs=$(grep -v '^#' "$src/po/LINGUAS")
echo "1..$((8 + 3 * $(echo $langs | wc -w)))"

check "desktop-file-validate" desktop-file-validate "$build/data/$id.desktop"
check "appstreamcli validate --no-net" appstreamcli validate --no-net --pedantic "$build/data/$id.metainfo.xml"
check "glib-compile-schemas --strict --dry-run" glib-compile-schemas --strict --dry-run "$src/data"

check "flatpak manifest is JSON with the app id" /usr/bin/python3 -c "import json,sys; \
  m=json.load(open(sys.argv[1])); assert m['id']=='$id' and m['command']=='smelt', m" \
  "$src/flatpak/$id.json"

# meson install into a scratch DESTDIR puts every piece where desktops look for it.
check "meson install installs binary, data, icons and translations" sh -c "\
  meson install -C '$build' --no-rebuild --quiet --destdir '$tmp/root' >/dev/null 2>&1 || exit 1; \
  cd '$tmp/root' && for f in bin/smelt share/applications/$id.desktop share/metainfo/$id.metainfo.xml \
    share/glib-2.0/schemas/$id.gschema.xml share/icons/hicolor/scalable/apps/$id.svg \
    share/icons/hicolor/symbolic/apps/$id-symbolic.svg share/locale/zh_CN/LC_MESSAGES/smelt.mo \
    share/locale/zh_TW/LC_MESSAGES/smelt.mo; do \
    ls -d ./*/$f ./*/*/$f 2>/dev/null | grep -q . || { echo missing \$f; exit 1; }; done"

grep -v '^#' "$src/po/POTFILES.in" | grep -v '^$' >"$tmp/potfiles"
check "po/POTFILES.in is sorted" sort -c "$tmp/potfiles"

# Every source file with a translatable string is listed, and every listed file exists.
(cd "$src" && grep -lE '(^|[^a-zA-Z_])(N?_|C_) \(|translatable="yes"' \
   src/app/*.c src/app/*.h ui/*.ui 2>/dev/null;
 ls data/*.desktop.in data/*.metainfo.xml.in data/*.gschema.xml) | sort -u >"$tmp/wanted"
check "POTFILES.in lists every file with translatable strings" \
  sh -c "comm -23 '$tmp/wanted' '$tmp/potfiles' | tee /dev/stderr | grep -q . && exit 1; \
         for f in \$(cat '$tmp/potfiles'); do test -f '$src'/\$f || { echo missing \$f; exit 1; }; done"

# The same extraction i18n.gettext(preset: 'glib') runs.
check "xgettext extracts a template" sh -c "cd '$src' && xgettext --from-code=UTF-8 --add-comments \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 \
  --keyword=g_dpgettext2:2c,3 --keyword=ngettext:1,2 --keyword=g_dngettext:2,3 \
  --files-from='$tmp/potfiles' --output='$tmp/smelt.pot'"

for lang in $langs; do
  po="$src/po/$lang.po"
  check "$lang: msgfmt --check" msgfmt --check --output-file=/dev/null "$po"
  check "$lang: no untranslated or fuzzy message" sh -c "msgfmt --statistics -o /dev/null '$po' 2>&1 \
    | tee /dev/stderr | grep -qE 'untranslated|fuzzy' && exit 1 || exit 0"
  check "$lang: covers every message of the sources" msgcmp "$po" "$tmp/smelt.pot"
done
