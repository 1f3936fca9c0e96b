#!/bin/sh
# The one-way dependencies of docs/DESIGN.md, held against the code: every
# `#include "..."` of every source folder must name its own folder or one
# its row in the block after "Dependencies point one way:" allows, and
# acme/'s protocol files (PROTOCOL: their paths without .c or .h, from
# the kw_acme library) must include none of the lifecycle's.  A folder
# with sources and no row fails too, so a new folder is drawn before it
# is used.  Each violation is named by file and line.
#
#   check_layering.sh SOURCE_DIR [PROTOCOL_FILE...]
#
# The rows read "A, B  ->  C, D  (a comment)"; "nothing" on the right
# allows no other folder; a row whose right side speaks of "the modules
# below" (cli) is not restricted; "acme lifecycle -> acme protocol" is
# the PROTOCOL rule.
set -u

src=${1:?usage: check_layering.sh SOURCE_DIR [PROTOCOL_FILE...]}
shift
design="$src/docs/DESIGN.md"
[ -r "$design" ] || { echo "$design: cannot read it" >&2; exit 2; }

files=$(cd "$src" && for d in */; do
    d=${d%/}
    case $d in tests | build*) continue ;; esac
    for f in "$d"/*.c "$d"/*.h; do
        [ -f "$f" ] && printf '%s\n' "$f"
    done
done)
[ -n "$files" ] || { echo "$src: no source folders found" >&2; exit 2; }

cd "$src" || exit 2
# The files go to awk one per line after the DESIGN.md text, split by a
# line no document holds.
{
    cat docs/DESIGN.md
    echo '@@files@@'
    printf '%s\n' "$files"
} | awk -v protocol="$*" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function fail(msg) { print msg > "/dev/stderr"; bad++ }
BEGIN {
    n = split(protocol, p, " ")
    for (i = 1; i <= n; i++) {
        sub(/\.[ch]$/, "", p[i])
        is_protocol[p[i]] = 1
    }
    part = "design"
}
part == "design" && $0 == "@@files@@" { part = "files"; next }
part == "design" {
    if (state == 0 && $0 ~ /^Dependencies point one way/) { state = 1; next }
    if (state == 1 && $0 ~ /^```/) { state = 2; next }
    if (state == 2 && $0 ~ /^```/) { state = 3; next }
    if (state != 2 || index($0, "->") == 0)
        next
    line = $0
    gsub(/\([^)]*\)/, "", line)
    left = trim(substr(line, 1, index(line, "->") - 1))
    right = trim(substr(line, index(line, "->") + 2))
    if (left ~ / / && left !~ /,/) {
        if (left == "acme lifecycle")
            protocol_rule = 1
        next
    }
    nl = split(left, l, ",")
    for (i = 1; i <= nl; i++) {
        d = trim(l[i])
        rows[d] = 1
        if (right ~ /below/)
            free[d] = 1
        nr = split(right, r, ",")
        for (j = 1; j <= nr; j++) {
            w = trim(r[j])
            sub(/ only$/, "", w)
            if (w ~ /^[a-z_]+$/ && w != "nothing")
                allow[d, w] = 1
        }
    }
    next
}
{
    file = $0
    dir = file; sub(/\/.*/, "", dir)
    stem = file; sub(/\.[ch]$/, "", stem)
    if (!(dir in rows)) {
        if (!(dir in told))
            fail(dir "/: no row for this folder in docs/DESIGN.md " \
                 "(Dependencies point one way)")
        told[dir] = 1
        next
    }
    lineno = 0
    while ((getline text < file) > 0) {
        lineno++
        if (text !~ /^[ \t]*#[ \t]*include[ \t]*"/)
            continue
        inc = text
        sub(/^[^"]*"/, "", inc)
        sub(/".*/, "", inc)
        if (inc ~ /^\.\.\//) {
            path = substr(inc, 4)
        } else if (inc ~ /\//) {
            path = inc
        } else {
            path = dir "/" inc
        }
        to = path; sub(/\/.*/, "", to)
        if (to != dir && !free[dir] && !((dir, to) in allow))
            fail(file ":" lineno ": includes " path "; " dir \
                 "/ may not include " to "/ (docs/DESIGN.md, " \
                 "Dependencies point one way)")
        tostem = path; sub(/\.[ch]$/, "", tostem)
        if (protocol_rule && dir == "acme" && (stem in is_protocol) &&
            to == "acme" && !(tostem in is_protocol))
            fail(file ":" lineno ": includes " path "; the ACME " \
                 "protocol never includes the lifecycle (docs/DESIGN.md)")
        checked++
    }
    close(file)
}
END {
    if (state < 3)
        fail("docs/DESIGN.md: no \"Dependencies point one way:\" block")
    if (protocol_rule && n == 0)
        fail("docs/DESIGN.md draws the ACME protocol apart, but no " \
             "protocol files were given (the kw_acme library'"'"'s sources)")
    if (bad) {
        printf "%d finding(s) against the one-way dependencies\n", bad \
            > "/dev/stderr"
        exit 1
    }
    printf "%d includes follow the one-way dependencies\n", checked
}'
