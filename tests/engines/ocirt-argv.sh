#!/bin/sh
# Logging shim the engine tests put in front of ocirt: appends the exact
# command line an engine used to a file (and keeps a copy of the bundle's
# config.json on create/run), then execs the real ocirt: same pid, same
# descriptors, same signals.  The tests install a copy with the two paths
# below filled in (engines do not pass our environment through).
log='@ARGV_LOG@'
real='@OCIRT@'
{ printf '%s pid=%s ppid=%s' "$(date +%H:%M:%S.%N)" "$$" "$PPID"; for a in "$@"; do printf ' %s' "$a"; done; printf '\n'; } >>"$log" 2>/dev/null
sub= prev= bundle=. id=
for a in "$@"; do
    case "$prev" in --bundle|-b) bundle=$a ;; esac
    case "$a" in
        --bundle=*) bundle=${a#--bundle=} ;;
        create|run) [ -n "$sub" ] || sub=$a ;;
    esac
    prev=$a id=$a
done
if [ -n "$sub" ] && [ -f "$bundle/config.json" ]; then
    mkdir -p "$log.configs" && cp "$bundle/config.json" "$log.configs/$id.json" 2>/dev/null
fi
exec "$real" "$@"
