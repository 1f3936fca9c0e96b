#!/bin/bash
# A long fuzzing campaign, not run by CI: every target (or those named) for
# SECONDS each (default 3600), one after another, at the lowest CPU priority.
# The corpus of each target is kept in DIR/corpus/TARGET (default DIR:
# build/fuzz-campaign), so running the campaign again resumes where the last
# one stopped; each run's figures are appended to DIR/campaign.txt.
#
#   bash tests/fuzz/campaign.sh [-t SECONDS] [-d DIR] [-j PARALLEL] [TARGET...]
#
# -j runs that many targets at once (default 1).  A crash stops that
# target's run and is reported at the end; the input is kept in DIR.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ="$ROOT/tests/fuzz/fuzz.sh"
secs=3600
dir=$ROOT/build/fuzz-campaign
par=1
while getopts t:d:j: o; do
    case $o in
    t) secs=$OPTARG ;;
    d) dir=$OPTARG ;;
    j) par=$OPTARG ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
targets=${*:-$(sh "$FUZZ" targets)}

sh "$FUZZ" build "$dir" >/dev/null
mkdir -p "$dir/corpus"
# Run a copy: sh reads a script as it goes, so editing the tree's fuzz.sh
# during a campaign of hours would break the runs still to come.
cp "$FUZZ" "$dir/fuzz.sh"
FUZZ=$dir/fuzz.sh
export KW_ROOT="$ROOT"
failed=0
running=0
for t in $targets; do
    (
        start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        if line=$(nice -n 19 sh "$FUZZ" run "$dir" "$t" "$secs" \
                  "$dir/corpus/$t" "$dir/$t.log"); then
            echo "$start $line" | tee -a "$dir/campaign.txt"
        else
            echo "$start $t: FAILED, see $dir/$t.log" | tee -a "$dir/campaign.txt"
            exit 1
        fi
    ) &
    running=$((running + 1))
    if [ "$running" -ge "$par" ]; then
        wait -n 2>/dev/null || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n 2>/dev/null || failed=1
    running=$((running - 1))
done
exit $failed
