# Test stand-in for OpenWrt's /lib/functions.sh: the UCI shell API that
# edgemq-uci2yaml uses, written for this harness. It keeps sections and
# options in the same shell variables as OpenWrt's (CONFIG_SECTIONS,
# CONFIG_<section>_TYPE, CONFIG_<section>_<option>, and for lists
# <option>_ITEM<n> and <option>_LENGTH), and config_load evaluates
# `uci -n export PACKAGE` the way OpenWrt does, so the converter runs the
# same code here as on a router. `uci` is the stub in ../../bin.
# shellcheck shell=sh disable=SC3043

_cfg_set() {
	eval "CONFIG_${1}_${2}=\$3"
}

config() {
	CONFIG_NUM_SECTIONS=$((CONFIG_NUM_SECTIONS + 1))
	CONFIG_SECTION=${2:-cfg$CONFIG_NUM_SECTIONS}
	CONFIG_SECTIONS="${CONFIG_SECTIONS:+$CONFIG_SECTIONS }$CONFIG_SECTION"
	_cfg_set "$CONFIG_SECTION" TYPE "$1"
}

option() {
	_cfg_set "$CONFIG_SECTION" "$1" "$2"
}

list() {
	local n
	eval "n=\${CONFIG_${CONFIG_SECTION}_${1}_LENGTH:-0}"
	n=$((n + 1))
	_cfg_set "$CONFIG_SECTION" "${1}_ITEM$n" "$2"
	_cfg_set "$CONFIG_SECTION" "${1}_LENGTH" "$n"
}

package() { :; }

config_load() {
	local data
	CONFIG_SECTIONS=
	CONFIG_NUM_SECTIONS=0
	CONFIG_SECTION=
	data=$(uci ${UCI_CONFIG_DIR:+-c "$UCI_CONFIG_DIR"} -n export "$1") || return 1
	eval "$data"
}

config_get() {
	case $# in
	2 | 3) eval "$1=\${CONFIG_${2}_${3}:-}" ;;
	*) eval "$1=\${CONFIG_${2}_${3}:-\$4}" ;;
	esac
}

config_get_bool() {
	local v
	config_get v "$2" "$3" "${4:-0}"
	case $v in
	1 | on | true | yes | enabled) v=1 ;;
	0 | off | false | no | disabled) v=0 ;;
	*) v=${4:-0} ;;
	esac
	eval "$1=\$v"
}

config_foreach() {
	local fn="$1" type="$2" s t
	shift 2
	for s in $CONFIG_SECTIONS; do
		config_get t "$s" TYPE
		[ -z "$type" ] || [ "$t" = "$type" ] || continue
		"$fn" "$s" "$@"
	done
}

config_list_foreach() {
	local s="$1" o="$2" fn="$3" n i=1 v
	shift 3
	config_get n "$s" "${o}_LENGTH"
	[ -n "$n" ] || return 0
	while [ "$i" -le "$n" ]; do
		config_get v "$s" "${o}_ITEM$i"
		"$fn" "$v" "$@"
		i=$((i + 1))
	done
}
