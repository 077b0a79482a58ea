#!/bin/sh
# Clean build wall time of a crate using atrium-api vs one using plain serde (fresh target dirs).
set -e
cd "$(dirname "$0")"
export CARGO_INCREMENTAL=0
for spec in "xrpc-plain release" "xrpc-atrium release" "xrpc-plain dev" "xrpc-atrium dev"; do
  set -- $spec
  dir=/tmp/tgt-$1-$2; rm -rf $dir
  flag=""; [ "$2" = release ] && flag=--release
  start=$(date +%s.%N)
  cargo build -q $flag -p $1 --target-dir $dir --timings
  end=$(date +%s.%N)
  units=$(ls $dir/$2/deps/*.rlib $dir/$2/deps/*.so 2>/dev/null | wc -l)
  echo "$1 $2: $(echo "$end - $start" | bc) s wall, $units artifacts, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
